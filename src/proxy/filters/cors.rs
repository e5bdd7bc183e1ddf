//! The CORS filter: answers preflights itself and decorates responses to allowed origins.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};

use crate::httpkit::body::{self, ProxyBody};
use crate::ir::filter::Cors;

const DEFAULT_MAX_AGE_SECS: u64 = 5;

/// Whether `origin` (scheme://host[:port]) is allowed by one of the patterns.
pub fn origin_allowed(cors: &Cors, origin: &str) -> bool {
    cors.allow_origins.iter().any(|pattern| {
        if pattern == "*" {
            return true;
        }
        match pattern.split_once("://*") {
            // "https://*.example.com" covers any number of labels before ".example.com".
            Some((scheme, suffix)) => {
                origin.strip_prefix(scheme).and_then(|rest| rest.strip_prefix("://")).is_some_and(|host| {
                    host.len() > suffix.len() && host.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase())
                })
            }
            None => pattern.eq_ignore_ascii_case(origin),
        }
    })
}

fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn allow_origin_value(cors: &Cors, origin: &HeaderValue) -> HeaderValue {
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        HeaderValue::from_static("*")
    } else {
        origin.clone()
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Answers a preflight request, or returns `None` when the request is not one.
pub fn preflight(cors: &Cors, method: &Method, headers: &HeaderMap) -> Option<Response<ProxyBody>> {
    if !is_preflight(method, headers) {
        return None;
    }
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let origin = headers.get(http::header::ORIGIN)?;
    let allowed = origin.to_str().is_ok_and(|o| origin_allowed(cors, o));
    if !allowed {
        return Some(resp);
    }
    let h = resp.headers_mut();
    h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin_value(cors, origin));
    let requested_method = headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    if cors.allow_methods.iter().any(|m| m == "*") {
        if let Some(m) = requested_method {
            h.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, m.clone());
        }
    } else if !cors.allow_methods.is_empty() {
        set(h, http::header::ACCESS_CONTROL_ALLOW_METHODS, &cors.allow_methods.join(", "));
    }
    let requested_headers = headers.get(http::header::ACCESS_CONTROL_REQUEST_HEADERS);
    if cors.allow_headers.iter().any(|m| m == "*") {
        if let Some(v) = requested_headers {
            h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
        }
    } else if !cors.allow_headers.is_empty() {
        set(h, http::header::ACCESS_CONTROL_ALLOW_HEADERS, &cors.allow_headers.join(", "));
    }
    if !cors.expose_headers.is_empty() {
        set(h, http::header::ACCESS_CONTROL_EXPOSE_HEADERS, &cors.expose_headers.join(", "));
    }
    let max_age = cors.max_age.map_or(DEFAULT_MAX_AGE_SECS, |d| d.as_secs());
    set(h, http::header::ACCESS_CONTROL_MAX_AGE, &max_age.to_string());
    if cors.allow_credentials {
        h.insert(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    Some(resp)
}

/// Adds the CORS headers of an actual (non-preflight) request to its response.
pub fn decorate(cors: &Cors, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let Some(origin) = origin else { return };
    if !origin.to_str().is_ok_and(|o| origin_allowed(cors, o)) {
        return;
    }
    headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin_value(cors, origin));
    if cors.allow_credentials {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    if !cors.expose_headers.is_empty() {
        set(headers, http::header::ACCESS_CONTROL_EXPOSE_HEADERS, &cors.expose_headers.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins() {
        let cors = Cors {
            allow_origins: vec!["https://*.bar.com".into(), "https://www.foo.com".into()],
            ..Default::default()
        };
        assert!(origin_allowed(&cors, "https://www.bar.com"));
        assert!(origin_allowed(&cors, "https://a.b.bar.com"));
        assert!(!origin_allowed(&cors, "http://www.bar.com"));
        assert!(!origin_allowed(&cors, "https://foobar.com"));
        assert!(origin_allowed(&cors, "https://www.foo.com"));
    }

    fn request(method: Method, pairs: &[(&'static str, &'static str)]) -> (Method, HeaderMap) {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        (method, h)
    }

    #[test]
    fn preflights_are_answered_by_the_filter() {
        let cors = Cors {
            allow_origins: vec!["https://app.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["*".into()],
            allow_credentials: true,
            ..Default::default()
        };
        let preflight_of = |origin: &'static str| {
            request(
                Method::OPTIONS,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "x-a"),
                ],
            )
        };
        type Want = Option<&'static [(&'static str, &'static str)]>;
        let cases: [(&str, (Method, HeaderMap), Want); 4] = [
            ("not a preflight: passed on", request(Method::GET, &[("origin", "https://app.example")]), None),
            (
                "OPTIONS without a requested method: passed on",
                request(Method::OPTIONS, &[("origin", "https://app.example")]),
                None,
            ),
            ("a foreign origin: 204 without grants", preflight_of("https://evil.example"), Some(&[])),
            (
                "an allowed origin: every grant",
                preflight_of("https://app.example"),
                Some(&[
                    ("access-control-allow-origin", "https://app.example"),
                    ("access-control-allow-methods", "GET, POST"),
                    ("access-control-allow-headers", "x-a"),
                    ("access-control-max-age", "5"),
                    ("access-control-allow-credentials", "true"),
                ]),
            ),
        ];
        for (name, (method, headers), want) in cases {
            let got = preflight(&cors, &method, &headers);
            match (got, want) {
                (None, None) => {}
                (Some(resp), Some(want)) => {
                    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{name}");
                    let got: Vec<(&str, &str)> =
                        resp.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap_or_default())).collect();
                    assert_eq!(got, want, "{name}");
                }
                (got, want) => panic!("{name}: got a response: {}, wanted one: {}", got.is_some(), want.is_some()),
            }
        }
    }

    #[test]
    fn responses_to_allowed_origins_are_decorated() {
        let cors = Cors { allow_origins: vec!["*".into()], expose_headers: vec!["x-id".into()], ..Default::default() };
        let mut h = HeaderMap::new();
        decorate(&cors, Some(&HeaderValue::from_static("https://any.example")), &mut h);
        assert_eq!(h["access-control-allow-origin"], "*", "any origin, no credentials: *");
        assert_eq!(h["access-control-expose-headers"], "x-id");
        let mut none = HeaderMap::new();
        decorate(&cors, None, &mut none);
        assert!(none.is_empty(), "no Origin, no CORS headers");
    }
}
