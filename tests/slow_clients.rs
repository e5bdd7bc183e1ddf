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

/// A client that opens a TLS connection and never finishes its handshake is closed after the
/// handshake timeout (10 s, docs/hardening.md), while the listener keeps accepting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_completes_is_closed() {
    let (_ca, cert, key) = support::tls::loopback_server_cert();
    let config = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\n\
         spec: {{controllerName: sluice.dev/gateway-controller}}\n---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\n\
         spec:\n  gatewayClassName: sluice\n  listeners:\n    - name: https\n      protocol: HTTPS\n      port: 443\n      \
         tls: {{mode: Terminate, certificateRefs: [{{name: cert}}]}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: cert, namespace: default}}\ntype: kubernetes.io/tls\n\
         stringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: llm, namespace: default}}\n\
         spec:\n  parentRefs: [{{name: gw}}]\n  rules: [{{backendRefs: [{{group: sluice.dev, kind: AIBackend, name: mock}}]}}]\n",
        support::yaml::block(&cert, 4),
        support::yaml::block(&key, 4),
    ) + &support::yaml::mock_backend("");
    let loaded = sluice::config::parse_text("tls.yaml", &config);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rt = sluice::runtime::Runtime::new(sluice::runtime::BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let snapshot = rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    assert!(snapshot.status.problems().is_empty(), "{:?}", snapshot.status.problems());
    let addr = rt.listener_addr("default", "gw", 443).expect("the TLS listener is bound");
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        // The first bytes of a TLS record header (a handshake record, TLS 1.0 framing), then nothing.
        s.write_all(&[0x16, 0x03, 0x01]).expect("write a partial record");
        s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let start = Instant::now();
        let mut answer = Vec::new();
        let read = s.read_to_end(&mut answer);
        (start.elapsed(), read.map_err(|e| e.kind()))
    });
    // Meanwhile the listener accepts others (a second silent client is accepted, not queued).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let other = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5));
    assert!(other.is_ok(), "the listener stopped accepting: {other:?}");
    let (elapsed, read) = closed_after.await.expect("join");
    assert!(read.is_ok(), "the half-open handshake was still open after {elapsed:?}: {read:?}");
    assert!(
        elapsed >= Duration::from_millis(9500) && elapsed < Duration::from_secs(20),
        "closed after {elapsed:?} (the timeout is 10 s)"
    );
    eprintln!("a TLS handshake that never completed was closed after {elapsed:?}");
}
