//! The RequestRedirect filter: answers with a Location built from the request and the filter.

use http::{HeaderValue, Response};

use super::rewrite::apply_path;
use crate::httpkit::body::{self, ProxyBody};
use crate::ir::filter::Redirect;
use crate::ir::route::PathMatch;

pub struct RequestParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    /// The listener's port as configured on the Gateway.
    pub listener_port: u16,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

pub fn location(r: &Redirect, req: &RequestParts<'_>, matched: &PathMatch) -> String {
    let scheme = r.scheme.as_deref().unwrap_or(req.scheme);
    let host = r.hostname.as_deref().unwrap_or(req.host);
    // Port: as given; else the well-known port of a scheme the filter set; else the listener's.
    let port = r.port.or_else(|| if r.scheme.is_some() { default_port(scheme) } else { Some(req.listener_port) });
    let path = match &r.path {
        Some(m) => apply_path(m, matched, req.path),
        None => req.path.to_string(),
    };
    let mut out = format!("{scheme}://{host}");
    if let Some(port) = port
        && default_port(scheme) != Some(port)
    {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(&path);
    if let Some(q) = req.query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub fn respond(r: &Redirect, req: &RequestParts<'_>, matched: &PathMatch) -> Response<ProxyBody> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = r.status;
    if let Ok(v) = HeaderValue::from_str(&location(r, req, matched)) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::ir::filter::PathModifier;

    fn redirect(scheme: Option<&str>, host: Option<&str>, port: Option<u16>, path: Option<PathModifier>) -> Redirect {
        Redirect {
            scheme: scheme.map(str::to_string),
            hostname: host.map(str::to_string),
            port,
            path,
            status: StatusCode::FOUND,
        }
    }

    #[test]
    fn locations_follow_the_gateway_api_rules() {
        let req = |listener_port, query| RequestParts {
            scheme: "http",
            host: "example.com",
            listener_port,
            path: "/prefix/one/two",
            query,
        };
        let prefix = PathMatch::Prefix("/prefix/one".into());
        let cases = [
            (
                "nothing set: the listener's port",
                redirect(None, None, None, None),
                req(8080, None),
                "http://example.com:8080/prefix/one/two",
            ),
            (
                "well-known listener port left out",
                redirect(None, None, None, None),
                req(80, None),
                "http://example.com/prefix/one/two",
            ),
            (
                "a new scheme takes its own port",
                redirect(Some("https"), None, None, None),
                req(8080, None),
                "https://example.com/prefix/one/two",
            ),
            (
                "an explicit port stays",
                redirect(Some("https"), None, Some(8443), None),
                req(80, None),
                "https://example.com:8443/prefix/one/two",
            ),
            (
                "hostname",
                redirect(None, Some("other.org"), None, None),
                req(80, Some("a=1")),
                "http://other.org/prefix/one/two?a=1",
            ),
            (
                "full path",
                redirect(None, None, None, Some(PathModifier::Full("/x".into()))),
                req(80, None),
                "http://example.com/x",
            ),
            (
                "prefix replaced",
                redirect(None, None, None, Some(PathModifier::Prefix("/new".into()))),
                req(80, None),
                "http://example.com/new/two",
            ),
        ];
        for (name, r, req, want) in cases {
            assert_eq!(location(&r, &req, &prefix), want, "{name}");
        }
        let resp = respond(&redirect(None, None, None, None), &req(80, None), &prefix);
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(resp.headers()["location"], "http://example.com/prefix/one/two");
    }
}
