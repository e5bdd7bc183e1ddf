//! An in-process gateway for end-to-end tests, and raw HTTP/1.1 requests to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice::runtime::{BindMode, Runtime};

/// A gateway serving `config` (YAML that must load), its listeners on ephemeral loopback ports;
/// the address of Gateway `default/gw` port 80.
pub async fn start(config: &str) -> (Arc<Runtime>, SocketAddr) {
    let loaded = sluice::config::parse_text("test.yaml", config);
    assert!(loaded.errors.is_empty(), "the configuration does not load: {:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("the gateway listener is bound");
    (rt, addr)
}

/// A raw HTTP/1.1 request (JSON content type, connection closed after the answer): status,
/// the head lower-cased, the body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let (method, path, body) = (method.to_string(), path.to_string(), body.to_string());
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.example\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body.as_bytes()).expect("write body");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out).to_string();
        let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        (status, head.to_ascii_lowercase(), body.to_string())
    })
    .await
    .expect("join")
}

/// [`request`], with an HTTP/1.1 chunked body given back as its data (for tests that read the
/// body, not its framing).
pub async fn request_whole(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let (status, head, body) = request(addr, method, path, headers, body).await;
    let body = if header(&head, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
    (status, head, body)
}

/// The data of an HTTP/1.1 chunked body.
pub fn dechunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or_else(|e| panic!("chunk size {size:?}: {e}"));
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        raw = rest[n..].strip_prefix("\r\n").expect("chunk end");
    }
    out
}

/// One header of a lower-cased head.
pub fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// One request written as is on a blocking socket; the whole answer as text (read until the
/// gateway closes, at most 10 s per read).
pub fn raw(addr: SocketAddr, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

/// The status code of a raw answer (0 when there is none).
pub fn raw_status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}
