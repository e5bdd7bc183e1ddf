//! A minimal MCP server (streamable HTTP, JSON answers) for P5, at `/mcp/<n>`: `initialize`
//! (issuing an `Mcp-Session-Id`), `notifications/*` (202), `ping`, `tools/list` (one tool,
//! `echo`, answered after `?list_delay_ms=N`), `tools/call` of `echo` (its `text` argument back,
//! at once). `GET` is 405 (no server stream), `DELETE` 200.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::UpBody;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

pub fn is_mcp(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

fn reply(status: StatusCode, body: Option<String>) -> Response<UpBody> {
    let mut resp = Response::new(UpBody::Full(body.map(Bytes::from)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The value of `"key":` in a small JSON text (the bench server reads no more than that).
fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let at = body.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|end| &s[..end]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The raw JSON text of `"key":` (a string keeps its quotes).
fn raw_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let at = body.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|end| &rest[..end + 2]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

pub async fn respond(req: Request<Incoming>) -> Response<UpBody> {
    match *req.method() {
        Method::POST => {}
        Method::DELETE => return reply(StatusCode::OK, None),
        _ => return reply(StatusCode::METHOD_NOT_ALLOWED, None),
    }
    let delay = req.uri().query().and_then(|q| super::query_param(q, "list_delay_ms")).unwrap_or(0);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, None),
    };
    let text = String::from_utf8_lossy(&body);
    let method = field(&text, "method").unwrap_or_default().to_string();
    let Some(id) = raw_field(&text, "id").map(str::to_string) else {
        // A notification.
        return reply(StatusCode::ACCEPTED, None);
    };
    let result = match method.as_str() {
        "initialize" => {
            let mut resp = reply(
                StatusCode::OK,
                Some(format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"2025-06-18","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"bench-mcp","version":"1"}}}}}}"#
                )),
            );
            let session = format!("bench-{}", SESSIONS.fetch_add(1, Ordering::Relaxed));
            if let Ok(v) = HeaderValue::from_str(&session) {
                resp.headers_mut().insert("mcp-session-id", v);
            }
            return resp;
        }
        "ping" => "{}".to_string(),
        "tools/list" => {
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            r#"{"tools":[{"name":"echo","description":"Echoes its text","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]}"#.to_string()
        }
        "tools/call" => {
            let arg = field(&text, "text").unwrap_or_default();
            format!(r#"{{"content":[{{"type":"text","text":"{arg}"}}],"isError":false}}"#)
        }
        _ => {
            return reply(
                StatusCode::OK,
                Some(format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"Method not found"}}}}"#
                )),
            );
        }
    };
    reply(StatusCode::OK, Some(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)))
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_read() {
        let b = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
        assert_eq!(field(b, "id"), Some("7"));
        assert_eq!(field(b, "method"), Some("tools/call"));
        assert_eq!(field(b, "text"), Some("hi"));
        assert_eq!(field(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, "id"), None);
        assert_eq!(super::raw_field(r#"{"id":"a-1","method":"x"}"#, "id"), Some("\"a-1\""));
        assert_eq!(super::raw_field(b, "id"), Some("7"));
    }
}
