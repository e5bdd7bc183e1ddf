//! Request handling of the echo backend: echo-basic's mux (ports 3000 and 8443), its h2c gate
//! (port 3001) and the echo, status and retry handlers.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST, LOCATION, TRANSFER_ENCODING, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

use super::goform::{clean_path, escape_path, parse_duration, query_value, unescape};
use super::json::{Json, canonical_header_name, message_body};
use super::{ConnCtx, Port, ws};

type Resp = Response<Full<Bytes>>;

/// Go's `ParseForm` reads at most this much of a urlencoded body.
const MAX_FORM_BODY: usize = 10 << 20;

pub async fn handle(req: Request<Incoming>, ctx: &ConnCtx) -> Resp {
    match ctx.port {
        Port::H2c => {
            let upgrade_h2c = req.headers().get(UPGRADE).is_some_and(|v| v == "h2c");
            if req.version() != Version::HTTP_2 && !upgrade_h2c {
                return text(StatusCode::BAD_REQUEST, "Expected h2c request");
            }
            echo(req, ctx).await
        }
        Port::Http | Port::Https => route(req, ctx).await,
    }
}

/// `preserveSlashes` (every `//` becomes `/`) followed by Go's `http.ServeMux`.
async fn route(req: Request<Incoming>, ctx: &ConnCtx) -> Resp {
    if request_uri(req.version(), req.uri()) == "*" {
        if req.method() == Method::OPTIONS {
            return empty(StatusCode::OK);
        }
        let mut resp = empty(StatusCode::BAD_REQUEST);
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    let Some(decoded) = unescape(req.uri().path(), false) else {
        let mut resp = text(StatusCode::BAD_REQUEST, "400 Bad Request");
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return resp;
    };
    let path = decoded.replace("//", "/");
    let query = req.uri().query().unwrap_or("").to_owned();
    let cleaned = clean_path(&path);
    if cleaned != path {
        return redirect(&cleaned, &query, req.method());
    }
    match path.as_str() {
        "/health" => text(StatusCode::OK, "OK"),
        "/ws" => ws::upgrade(req),
        "/status" | "/retry" => redirect(&format!("{path}/"), &query, req.method()),
        p if p.starts_with("/status/") => status(req, ctx).await,
        p if p.starts_with("/retry/") => retry(req, ctx).await,
        _ => echo(req, ctx).await,
    }
}

/// `r.RequestURI`: the request target as received (HTTP/2: `:path`).
fn request_uri(version: Version, uri: &http::Uri) -> String {
    if version != Version::HTTP_2 && uri.scheme().is_some() {
        return uri.to_string();
    }
    match (uri.path_and_query(), uri.authority()) {
        (Some(pq), _) => pq.as_str().to_owned(),
        (None, Some(authority)) => authority.as_str().to_owned(),
        (None, None) => String::new(),
    }
}

/// `/status/NNN`: only a RequestURI matching `^/status/(\d\d\d)$` is honoured.
async fn status(req: Request<Incoming>, ctx: &ConnCtx) -> Resp {
    let uri = request_uri(req.version(), req.uri());
    let code = uri
        .strip_prefix("/status/")
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse().ok());
    match code {
        Some(code) => with_code(code, ctx).await,
        None => empty(StatusCode::BAD_REQUEST),
    }
}

/// An empty response with `code`, as Go's `WriteHeader(code)` gives: 1xx codes are sent as
/// informational by Go and followed by a 200 (approximated by a plain 200); codes outside
/// 100..=999 make Go panic, which drops the connection (approximated by a reset).
async fn with_code(code: i64, ctx: &ConnCtx) -> Resp {
    match u16::try_from(code).ok().filter(|c| (100..=999).contains(c)) {
        Some(c) if c < 200 => empty(StatusCode::OK),
        Some(c) => empty(StatusCode::from_u16(c).unwrap_or(StatusCode::OK)),
        None => reset(ctx).await,
    }
}

/// Resets the TCP connection (SO_LINGER 0 + close); the response is never sent.
async fn reset(ctx: &ConnCtx) -> Resp {
    ctx.reset.reset();
    std::future::pending().await
}

/// `/retry/`: per-uuid attempt counter; while below `succeedAfter`, fail (after `delayRetry`)
/// with `responseCode` or a connection reset; afterwards echo.
async fn retry(req: Request<Incoming>, ctx: &ConnCtx) -> Resp {
    let query = req.uri().query().unwrap_or("").to_owned();
    let get = |key: &str| query_value(&query, key).unwrap_or_default();
    let uuid = get("uuid");
    if uuid.is_empty() {
        return go_error(StatusCode::BAD_REQUEST, "uuid is required");
    }
    let Ok(succeed_after) = get("succeedAfter").parse::<i64>() else {
        return go_error(StatusCode::BAD_REQUEST, "succeedAfter must be an integer");
    };
    let response_code = match get("responseCode").as_str() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(code) => Some(code),
            Err(_) => return go_error(StatusCode::BAD_REQUEST, "responseCode must be an integer"),
        },
    };
    let delay = match get("delayRetry").as_str() {
        "" => Duration::ZERO,
        v => match parse_duration(v) {
            Ok(d) => d,
            Err(msg) => return go_error(StatusCode::BAD_REQUEST, &msg),
        },
    };
    let fail_now = {
        let mut attempts = ctx.shared.lock_retries();
        let count = attempts.entry(uuid).or_insert(0);
        let fail = *count < succeed_after;
        if fail {
            *count += 1;
        }
        fail
    };
    if !fail_now {
        return echo(req, ctx).await;
    }
    tokio::time::sleep(delay).await;
    match response_code {
        Some(code) => with_code(code, ctx).await,
        None => reset(ctx).await,
    }
}

/// The echo handler: log, `delay`, `X-Echo-Set-Header`, then the JSON description.
async fn echo(req: Request<Incoming>, ctx: &ConnCtx) -> Resp {
    let uri = request_uri(req.version(), req.uri());
    ctx.shared.record(&uri);
    let (parts, body) = req.into_parts();
    let delay = form_body_delay(&parts, body)
        .await
        .or_else(|| query_value(parts.uri.query().unwrap_or(""), "delay"))
        .unwrap_or_default();
    if !delay.is_empty() {
        match parse_duration(&delay) {
            Ok(d) => tokio::time::sleep(d).await,
            Err(msg) => {
                let mut resp = Response::new(Full::new(Bytes::from(message_body(&msg))));
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                json_headers(resp.headers_mut());
                return resp;
            }
        }
    }
    let body = echo_json(&parts, uri, ctx).to_indented();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    set_requested_headers(&parts.headers, resp.headers_mut());
    json_headers(resp.headers_mut());
    resp
}

/// `r.FormValue("delay")` looks at a urlencoded POST/PUT/PATCH body before the query.
async fn form_body_delay(parts: &Parts, body: Incoming) -> Option<String> {
    let urlencoded = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mt| mt.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let form_method = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if !(urlencoded && form_method) {
        return None;
    }
    let bytes = Limited::new(body, MAX_FORM_BODY).collect().await.ok()?.to_bytes();
    query_value(&String::from_utf8_lossy(&bytes), "delay")
}

fn echo_json(parts: &Parts, uri: String, ctx: &ConnCtx) -> Json {
    let h2 = parts.version == Version::HTTP_2;
    let host = match parts.uri.authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => header_string(parts.headers.get(HOST)),
    };
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        // Go keeps neither Host nor (HTTP/1) Transfer-Encoding in r.Header.
        if name == HOST || (name == TRANSFER_ENCODING && !h2) {
            continue;
        }
        let values = headers.entry(canonical_header_name(name.as_str()));
        values.or_default().push(header_string(Some(value)));
    }
    if let Some(cookies) = headers.get_mut("Cookie").filter(|c| h2 && c.len() > 1) {
        *cookies = vec![cookies.join("; ")];
    }
    let headers = headers.into_iter().map(|(k, vs)| (k, Json::Arr(vs.into_iter().map(Json::Str).collect()))).collect();
    let proto = match parts.version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let shared = &ctx.shared;
    let mut members = vec![
        ("path", Json::Str(uri)),
        ("host", Json::Str(host)),
        ("method", Json::str(parts.method.as_str())),
        ("proto", Json::str(proto)),
        ("headers", Json::Obj(headers)),
        ("httpPort", Json::str("3000")),
        ("namespace", Json::str(&shared.namespace)),
        ("ingress", Json::str("")),
        ("service", Json::str(&shared.service)),
        ("pod", Json::str(&shared.pod)),
    ];
    if let Some(tls) = &ctx.tls {
        members.push(("tls", tls.to_json()));
    }
    Json::Obj(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn header_string(value: Option<&HeaderValue>) -> String {
    value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default()
}

/// `X-Echo-Set-Header: name:value,name2:value2` (any number of header lines). Names are kept
/// as given (hyper writes them lower-cased; header names are case-insensitive); a repeated
/// name gets `,value` appended; an empty or invalid name is dropped.
fn set_requested_headers(request: &HeaderMap, response: &mut HeaderMap) {
    let mut requested: Vec<(String, String)> = Vec::new();
    for list in request.get_all("x-echo-set-header") {
        for item in String::from_utf8_lossy(list.as_bytes()).split(',') {
            let item = item.trim();
            let (name, value) = item.split_once(':').unwrap_or((item, ""));
            match requested.iter_mut().find(|(n, _)| n == name) {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(value.trim());
                }
                None => requested.push((name.to_owned(), value.to_owned())),
            }
        }
    }
    for (name, value) in requested {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value.trim());
        if let (Ok(name), Ok(value)) = (name, value) {
            response.append(name, value);
        }
    }
}

fn json_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
}

fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

/// A body written with `w.Write`: Go sniffs it as `text/plain; charset=utf-8`.
fn text(status: StatusCode, body: &str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// Go's `http.Error`: text body with a trailing newline and `nosniff`.
fn go_error(status: StatusCode, message: &str) -> Resp {
    let mut resp = text(status, &format!("{message}\n"));
    resp.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

/// `http.ServeMux`'s 301 to the cleaned path (query kept), with `http.Redirect`'s HTML body for
/// GET and HEAD.
fn redirect(path: &str, query: &str, method: &Method) -> Resp {
    let mut location = escape_path(path);
    if !query.is_empty() {
        location.push('?');
        location.push_str(query);
    }
    let mut resp = empty(StatusCode::MOVED_PERMANENTLY);
    if *method == Method::GET || *method == Method::HEAD {
        let href = html_escape(&location);
        let body = format!("<a href=\"{href}\">Moved Permanently</a>.\n\n");
        resp = text(StatusCode::MOVED_PERMANENTLY, &body);
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    }
    if let Ok(value) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(LOCATION, value);
    }
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}
