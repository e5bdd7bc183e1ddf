//! A graceful stop: on SIGTERM `sluice run` reports not ready, stops accepting connections, lets
//! a stream in flight finish whole, and exits 0.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::process;

fn config(port: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend(
            r#"{content: "one two three four five six seven eight nine ten", chunks: 10, interval: 150ms}"#,
        )
}

#[test]
fn sigterm_lets_a_stream_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config(port)).expect("write");
    let mut gw = process::Gateway::start(&file);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    let body = r#"{"model": "mock-1", "stream": true, "messages": [{"role": "user", "content": "count"}]}"#;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    // The stream has begun.
    let mut first = [0u8; 64];
    let n = s.read(&mut first).expect("the stream begins");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));

    let pid = gw.child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match process::http_get(gw.admin, "/readyz") {
            Some((503, text)) => {
                assert!(text.contains("draining"), "{text}");
                break;
            }
            other => assert!(Instant::now() < deadline, "readyz while draining: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::net::TcpStream::connect(addr).is_err(), "a new connection is refused while draining");

    // The stream in flight ends whole.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("ten") && text.contains("[DONE]"), "the stream was cut: {text}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = gw.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "sluice did not exit after draining");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}
