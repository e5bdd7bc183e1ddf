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
    // Readiness turns at once; each listener closes when its task sees the drain, a moment
    // later. The stream below is still in flight, so the gateway is still draining throughout.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "a new connection is refused while draining");
        std::thread::sleep(Duration::from_millis(10));
    }

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

/// One streamed chat completion on its own connection: `Err` when the connection failed before
/// an answer began; `Ok((head_at, whole))` otherwise.
fn stream_once(addr: SocketAddr) -> Result<(Instant, bool), String> {
    let body = r#"{"model": "mock-1", "stream": true, "messages": [{"role": "user", "content": "count"}]}"#;
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut first = [0u8; 16];
    let n = s.read(&mut first).map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("closed before an answer".into());
    }
    let head_at = Instant::now();
    let mut rest = first[..n].to_vec();
    let _ = s.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    Ok((head_at, text.starts_with("HTTP/1.1 200") && text.contains("ten") && text.contains("[DONE]")))
}

/// SIGTERM under load: 16 clients stream answers back to back (1.5 s each); every answer that
/// had begun when the signal came finishes whole, later connections are refused, and the
/// process exits 0 once they are done.
#[test]
fn sigterm_under_load_fails_no_request_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config(port)).expect("write");
    let mut gw = process::Gateway::start_with(&file, &["--drain-timeout", "20s"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut results = Vec::new();
                // Bounded: 40 requests of 1.5 s at most per client.
                for _ in 0..40 {
                    let r = stream_once(addr);
                    let failed = r.is_err();
                    results.push(r);
                    if failed || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                results
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill").args(["-TERM", &gw.child.id().to_string()]).status();
    assert!(killed.expect("kill").success());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results: Vec<Result<(Instant, bool), String>> =
        clients.into_iter().flat_map(|c| c.join().expect("client")).collect();
    let status = loop {
        if let Some(status) = gw.child.try_wait().expect("wait") {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(30), "sluice did not exit after draining");
        std::thread::sleep(Duration::from_millis(20));
    };
    let exited = signalled.elapsed();
    let in_flight: Vec<bool> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|(at, _)| *at < signalled)
        .map(|(_, whole)| *whole)
        .collect();
    let after = results.iter().filter(|r| r.as_ref().is_ok_and(|(at, _)| *at >= signalled)).count();
    let refused: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    eprintln!(
        "{} answers begun before SIGTERM, {} of them whole; {after} begun after it; {} refused ({:?}); exit after {exited:?}",
        in_flight.len(),
        in_flight.iter().filter(|w| **w).count(),
        refused.len(),
        refused.first()
    );
    assert!(in_flight.len() >= 16, "the load was under way");
    assert!(in_flight.iter().all(|w| *w), "an answer in flight at SIGTERM was cut");
    assert!(status.success(), "exit status {status}");
    assert!(exited < Duration::from_secs(20), "exited after the drain timeout: {exited:?}");
}

/// The drain timeout bounds a stop: a stream longer than it is cut when it passes, and the
/// process exits 0 then.
#[test]
fn the_drain_timeout_bounds_a_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let file = dir.path().join("gw.yaml");
    let slow = config(port).replace("interval: 150ms", "interval: 2s");
    std::fs::write(&file, slow).expect("write");
    let mut gw = process::Gateway::start_with(&file, &["--drain-timeout", "1s"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let client = std::thread::spawn(move || stream_once(addr));
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill").args(["-TERM", &gw.child.id().to_string()]).status();
    assert!(killed.expect("kill").success());
    let status = loop {
        if let Some(status) = gw.child.try_wait().expect("wait") {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(15), "sluice did not exit at its drain timeout");
        std::thread::sleep(Duration::from_millis(20));
    };
    let exited = signalled.elapsed();
    let answer = client.join().expect("client");
    eprintln!("a 20 s stream under a 1 s drain timeout: exit {status} after {exited:?}; the stream: {answer:?}");
    assert!(status.success(), "exit status {status}");
    assert!(exited < Duration::from_secs(5), "{exited:?}");
    assert!(matches!(answer, Ok((_, false))), "the stream was cut: {answer:?}");
}

/// A stop ends the MCP stdio targets the gateway started as the MCP specification says: their
/// standard input closed, so they exit on their own (then SIGTERM, then SIGKILL, if they
/// linger); none outlives the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_stdio_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let port = process::free_port();
    let done_file = dir.path().join("done");
    // Not `exec`: the shell outlives the server to write how it ended (a SIGKILL would leave no
    // such line).
    let script = format!(
        "echo $$ > '{}'; python3 -m mcp_server_time --local-timezone UTC; echo \"exited $?\" > '{}'",
        pid_file.display(),
        done_file.display()
    );
    let config = support::yaml::gateway_route(port, "mcp", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + &format!(
            "---\napiVersion: sluice.dev/v1alpha1\nkind: MCPBackend\nmetadata: {{name: tools, namespace: default}}\n\
             spec:\n  targets:\n    - name: time\n      stdio: {{command: sh, args: [\"-c\", {}]}}\n",
            serde_json::json!(script)
        );
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config).expect("write");
    let mut gw = process::Gateway::start(&file);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let _ = support::gateway::request(addr, "POST", "/mcp", &[], init).await;
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<u32>().ok()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the stdio target never started (is mcp-server-time installed?)");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
            .unwrap_or(false)
    };
    assert!(alive(pid), "the target runs");
    let killed = std::process::Command::new("kill").args(["-TERM", &gw.child.id().to_string()]).status();
    assert!(killed.expect("kill").success());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = gw.child.try_wait().expect("wait") {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(15), "sluice did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let target_alive = alive(pid);
    let ended = std::fs::read_to_string(&done_file).unwrap_or_default();
    eprintln!(
        "exit {status} after {:?}; the stdio target (pid {pid}) alive after: {target_alive}; it wrote {ended:?}",
        signalled.elapsed()
    );
    assert!(status.success());
    assert!(!target_alive, "the stdio target outlived the gateway");
    assert_eq!(ended.trim(), "exited 0", "the target was not let exit on its own (standard input closed)");
}
