//! Faulty upstreams: each fault gets the client a timely error (or a cut answer, when the
//! answer had begun), the gateway lets go of the broken upstream connection, and the next
//! request through the same backend is served.
//!
//! The upstream is a raw TCP server written here (no HTTP library would misbehave on purpose):
//! it reads a request and acts by what it names, the path for proxy routes and the model for
//! the AI route.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The most a test waits on any one answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// A request as the fake read it: the head (lower-cased) and the body.
struct Asked {
    head: String,
    body: String,
}

/// Reads one request; `None` when the peer closed first.
async fn read_request(s: &mut TcpStream) -> Option<Asked> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Asked { head, body: String::from_utf8_lossy(&body).to_string() })
}

/// Closes with a reset (SO_LINGER 0) instead of a FIN.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Waits (bounded) for the gateway to close a connection it gave up on; sends how long it took.
async fn until_closed(mut s: TcpStream, closed: mpsc::UnboundedSender<Duration>) {
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    let gone = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    if gone.is_ok() {
        let _ = closed.send(started.elapsed());
    }
}

const OK_JSON: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// Serves one connection: requests until the peer closes, each acted on by what it names.
async fn serve(mut s: TcpStream, closed: mpsc::UnboundedSender<Duration>) {
    while let Some(asked) = read_request(&mut s).await {
        let line = asked.head.lines().next().unwrap_or_default().to_string();
        let names = |what: &str| line.contains(what) || asked.body.contains(what);
        if names("reset-before") {
            return reset(s);
        }
        if names("close-before") {
            return drop(s);
        }
        if names("not-http") {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
            return;
        }
        if names("stall-head") {
            return until_closed(s, closed).await;
        }
        if names("stall-body") {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nthe first ten").await;
            return until_closed(s, closed).await;
        }
        if names("reset-during") {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nthe first ten").await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            return reset(s);
        }
        if names("bad-json") {
            let body = r#"{"id":"chatcmpl-1","choices":[{"#;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
            continue;
        }
        if names("stall-stream") {
            let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"partial"},"finish_reason":null}]}"#;
            let _ = s
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {chunk}\n\n").as_bytes())
                .await;
            return until_closed(s, closed).await;
        }
        if names("truncated-stream") {
            // One whole event, then half of the next, and the connection closes (no
            // finish_reason, no `[DONE]`).
            let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"partial"},"finish_reason":null}]}"#;
            let _ = s
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {chunk}\n\ndata: {{\"id\":\"c\",\"choi").as_bytes())
                .await;
            return;
        }
        if names("endless-line") {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: ")
                .await;
            // 64 MiB without a newline, or until the gateway stops reading.
            let line = vec![b'a'; 64 << 10];
            for _ in 0..1024 {
                if s.write_all(&line).await.is_err() {
                    break;
                }
            }
            return until_closed(s, closed).await;
        }
        let answer = if line.contains("/v1/chat/completions") {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{OK_JSON}",
                OK_JSON.len()
            )
        } else {
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string()
        };
        if s.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The faulty upstream; the receiver hears how long each given-up connection took to close.
async fn faulty_upstream() -> (u16, mpsc::UnboundedReceiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, tx.clone()));
        }
    });
    (port, rx)
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn config(port: u16, dead: u16) -> String {
    let gateway = support::yaml::gateway_route(80, "faults", &["{name: faulty, port: 80}"]);
    // One more rule with a deadline, one towards the dead port, and the AI route.
    let gateway = gateway.replace(
        "    - backendRefs:\n",
        "    - matches: [{path: {type: PathPrefix, value: /deadline}}]\n      timeouts: {request: 1s}\n      backendRefs: [{name: faulty, port: 80}]\n    - matches: [{path: {type: PathPrefix, value: /dead}}]\n      backendRefs: [{name: dead, port: 80}]\n    - matches: [{path: {type: PathPrefix, value: /v1}}]\n      backendRefs: [{group: sluice.dev, kind: AIBackend, name: llm}]\n    - backendRefs:\n",
    );
    gateway
        + &support::yaml::local_service("faulty", port)
        + &support::yaml::local_service("dead", dead)
        // `failover.streamIdleTimeout` (default 10 min) short enough to wait for here.
        + &support::yaml::openai_backend("llm", port)
            .replace("spec:\n  provider:", "spec:\n  failover: {streamIdleTimeout: 1s}\n  provider:")
}

/// A GET, timed; status, head and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String, Duration) {
    let started = Instant::now();
    let (status, head, body) = tokio::time::timeout(PATIENCE, support::gateway::request(addr, "GET", path, &[], ""))
        .await
        .expect("an answer in time");
    (status, head, body, started.elapsed())
}

/// A chat completion for `model`, timed.
async fn chat(addr: SocketAddr, model: &str, stream: bool) -> (u16, String, String, Duration) {
    let started = Instant::now();
    let body = format!(r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#);
    let (status, head, body) =
        tokio::time::timeout(PATIENCE, support::gateway::request(addr, "POST", "/v1/chat/completions", &[], &body))
            .await
            .expect("an answer in time");
    (status, head, body, started.elapsed())
}

/// The backend still serves after a fault.
async fn still_served(addr: SocketAddr, after: &str) {
    let (status, _, body, _) = get(addr, "/ok").await;
    assert_eq!((status, body.as_str()), (200, "ok"), "a plain request after {after}");
    let (status, _, body, _) = chat(addr, "gpt-4o-mini", false).await;
    assert_eq!(status, 200, "a chat completion after {after}: {body}");
    assert!(body.contains("fine"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_upstreams_get_clients_timely_errors_and_leave_the_backend_healthy() {
    let (port, mut closed) = faulty_upstream().await;
    let (rt, addr) = support::gateway::start(&config(port, closed_port())).await;
    // `sluice run --body-idle-timeout 1s` (the default, 5 min, is too long to wait for here).
    rt.set_body_idle_timeout(Some(Duration::from_secs(1)));
    still_served(addr, "nothing").await;

    // Refused, reset before an answer, closed before an answer, not HTTP: 502 at once.
    for (path, what) in [
        ("/dead", "connection refused"),
        ("/reset-before", "a reset before the answer"),
        ("/close-before", "a close before the answer"),
        ("/not-http", "an answer that is not HTTP"),
    ] {
        let (status, _, body, took) = get(addr, path).await;
        eprintln!("{what}: {status} after {took:?}: {body}");
        assert!(status == 502 || status == 503, "{what}: {status} {body}");
        assert!(took < Duration::from_secs(5), "{what} took {took:?}");
        // The client hears what failed, never where: addresses go to the log.
        assert!(!body.contains("127.0.0.1"), "{what}: the answer names an address: {body}");
        still_served(addr, what).await;
    }

    // Reset in the middle of the body: the head had gone out, so the client's answer is cut
    // (it ends short of its Content-Length), promptly.
    let (status, head, body, took) = get(addr, "/reset-during").await;
    eprintln!("a reset mid-body: {status}, {} of 1000 bytes after {took:?}", body.len());
    assert_eq!(status, 200, "{head}");
    assert_eq!(support::gateway::header(&head, "content-length"), Some("1000"));
    assert!(body.len() < 1000, "the cut answer is short: {} bytes", body.len());
    assert!(took < Duration::from_secs(5), "a reset mid-body took {took:?}");
    still_served(addr, "a reset mid-body").await;

    // A head that never comes, under a 1 s request timeout: 504 after 1 s, and the gateway
    // closes the upstream connection it gave up on.
    let (status, _, body, took) = get(addr, "/deadline/stall-head").await;
    eprintln!("a stalled head under a 1 s deadline: {status} after {took:?}");
    assert_eq!(status, 504, "{body}");
    assert!(took >= Duration::from_millis(950) && took < Duration::from_secs(5), "the deadline took {took:?}");
    let let_go =
        tokio::time::timeout(PATIENCE, closed.recv()).await.expect("the stalled connection is closed").expect("sent");
    eprintln!("the stalled upstream connection was closed after {let_go:?}");
    assert!(let_go < Duration::from_secs(5), "the stalled upstream connection closed after {let_go:?}");
    still_served(addr, "a stalled head").await;

    // A body that stops coming: after 1 s without data the client's answer is cut (short of
    // its Content-Length) and the upstream connection closed.
    let (status, _, body, took) = get(addr, "/stall-body").await;
    eprintln!("a body stalled mid-way: {status}, {} of 1000 bytes after {took:?}", body.len());
    assert_eq!(status, 200);
    assert!(body.len() < 1000, "the cut answer is short: {} bytes", body.len());
    assert!(took >= Duration::from_millis(950) && took < Duration::from_secs(5), "the idle bound took {took:?}");
    let let_go = tokio::time::timeout(PATIENCE, closed.recv())
        .await
        .expect("the stalled body's connection is closed")
        .expect("sent");
    eprintln!("the stalled body's upstream connection was closed after {let_go:?}");
    assert!(let_go < Duration::from_secs(5), "the stalled body's connection closed after {let_go:?}");
    still_served(addr, "a stalled body").await;

    // The AI route: a provider's answer that is not valid JSON gets an OpenAI-format 502.
    let (status, _, body, took) = chat(addr, "bad-json", false).await;
    eprintln!("bad JSON from the provider: {status} after {took:?}: {body}");
    assert_eq!(status, 502, "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).expect("an OpenAI error body");
    assert!(e["error"]["message"].is_string(), "{body}");
    assert!(took < Duration::from_secs(5), "bad JSON took {took:?}");
    still_served(addr, "bad JSON from the provider").await;

    // A provider's stream that stops after its first event: the client gets that event, then
    // the stream's error event after 1 s without data, and the provider's connection is closed.
    let (status, _, body, took) = chat(addr, "stall-stream", true).await;
    eprintln!("a provider stream stalled after one event: {status} after {took:?}: {body}");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("partial"), "the first event went through: {body}");
    assert!(body.contains("no data from the peer"), "the stream ends with an error event: {body}");
    assert!(took >= Duration::from_millis(950) && took < Duration::from_secs(5), "the stream idle bound took {took:?}");
    let let_go =
        tokio::time::timeout(PATIENCE, closed.recv()).await.expect("the stalled stream is closed").expect("sent");
    assert!(let_go < Duration::from_secs(5), "the stalled stream's connection closed after {let_go:?}");
    still_served(addr, "a stalled provider stream").await;

    // A provider's stream cut in the middle of an event: the client gets what was whole, then
    // the stream's error event and the end of its stream, at once.
    let (status, _, body, took) = chat(addr, "truncated-stream", true).await;
    eprintln!("a provider stream cut mid-event: {status} after {took:?}: {body}");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("partial"), "the whole event went through: {body}");
    let error = body.find("ended before the response was complete").expect("the stream's error event");
    assert!(body[error..].contains("data: [DONE]"), "the client's stream is ended after it: {body}");
    assert!(took < Duration::from_secs(2), "a cut stream took {took:?}");
    still_served(addr, "a provider stream cut mid-event").await;

    // A streamed answer whose line never ends: the gateway stops reading at its bound, ends the
    // client's stream, and closes the provider's connection; the client got little.
    let (status, _, body, took) = chat(addr, "endless-line", true).await;
    eprintln!("an endless SSE line: {status}, {} bytes after {took:?}: {:.300}", body.len(), body);
    assert!(body.len() < 1 << 20, "the client got {} bytes", body.len());
    assert!(took < Duration::from_secs(8), "an endless line took {took:?} (status {status})");
    let let_go =
        tokio::time::timeout(PATIENCE, closed.recv()).await.expect("the endless stream is closed").expect("sent");
    eprintln!("the endless stream's connection was closed after {let_go:?}");
    assert!(let_go < Duration::from_secs(8), "the endless stream's connection closed after {let_go:?}");
    still_served(addr, "an endless SSE line").await;
}
