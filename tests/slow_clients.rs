//! Slow clients: a request head that never completes (slowloris) is not held open forever. The
//! gateway answers it `408 Request Timeout` after its header-read timeout (10 s,
//! docs/hardening.md), closes it, and serves other clients all along.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_completes_is_closed() {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("");
    let (_rt, addr) = support::gateway::start(&config).await;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: 1").expect("write a partial head");
        // Bounded: well past the timeout, so a gateway that never closes fails here.
        s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let start = Instant::now();
        let mut answer = Vec::new();
        let read = s.read_to_end(&mut answer);
        (start.elapsed(), read.map_err(|e| e.kind()), String::from_utf8_lossy(&answer).to_string())
    });
    // Meanwhile, others are served.
    let (status, _, body) = support::gateway::request(addr, "GET", "/v1/models", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let (elapsed, read, answer) = closed_after.await.expect("join");
    assert!(
        read.is_ok(),
        "the half-sent request was still open after {elapsed:?}: {read:?} (it should close after 10 s)"
    );
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "after {elapsed:?}: {answer:?}");
    eprintln!("a partial request head was answered 408 and closed after {elapsed:?}");
}
