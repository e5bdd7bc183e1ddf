//! A Gateway's connection bounds set by a TrafficPolicy (`connections`), a proxied route's waits
//! set by one (`timeouts`), and HTTP/2's protections against hostile clients (rapid reset,
//! CONTINUATION floods, oversized header lists), each on raw sockets.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::h2raw::{self, Frame};

fn mock_route() -> String {
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("")
}

/// Frames until one `pick` takes, EOF, or the read timeout.
fn frames_until<T>(s: &mut TcpStream, mut pick: impl FnMut(&Frame) -> Option<T>) -> Result<T, String> {
    for _ in 0..10_000 {
        match h2raw::read_frame(s) {
            Ok(f) => {
                if let Some(t) = pick(&f) {
                    return Ok(t);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("no such frame in 10,000".into())
}

/// A plain GET on a new h2c connection is answered 200.
fn h2_get_ok(addr: SocketAddr) {
    let mut s = h2raw::connect(addr, Duration::from_secs(10));
    s.write_all(&h2raw::get(1, "/v1/models", &[])).expect("write");
    let status =
        frames_until(&mut s, |f| (f.kind == h2raw::HEADERS && f.stream == 1).then(|| h2raw::status_of(&f.payload)));
    assert_eq!(status, Ok(Some(200)), "a plain request on a new connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_policy_sets_its_http2_bounds_and_pings_silent_clients() {
    let config = mock_route()
        + &support::yaml::gateway_policy(
            "conn",
            "  connections:\n    http2: {keepAliveInterval: 1s, keepAliveTimeout: 1s, maxConcurrentStreams: 7, maxHeaderListSize: 4Ki}\n",
        );
    let (_rt, addr) = support::gateway::start(&config).await;
    tokio::task::spawn_blocking(move || {
        let mut s = h2raw::connect(addr, Duration::from_secs(10));
        let settings = h2raw::server_settings(&mut s);
        assert!(settings.contains(&(h2raw::MAX_CONCURRENT_STREAMS, 7)), "{settings:?}");
        assert!(settings.contains(&(h2raw::MAX_HEADER_LIST_SIZE, 4096)), "{settings:?}");
        s.write_all(&h2raw::frame(h2raw::SETTINGS, h2raw::ACK, 0, &[])).expect("ack");
        s.write_all(&h2raw::get(1, "/v1/models", &[])).expect("write");
        let status =
            frames_until(&mut s, |f| (f.kind == h2raw::HEADERS && f.stream == 1).then(|| h2raw::status_of(&f.payload)));
        assert_eq!(status, Ok(Some(200)));

        // Silent from here on: a ping comes, unanswered it ends the connection.
        let start = Instant::now();
        let ping = frames_until(&mut s, |f| (f.kind == h2raw::PING && f.flags & h2raw::ACK == 0).then_some(()));
        assert_eq!(ping, Ok(()), "a ping after 1 s of silence");
        let pinged = start.elapsed();
        let end = frames_until(&mut s, |f| (f.kind == h2raw::GOAWAY).then(|| f.goaway_code()));
        let closed = start.elapsed();
        // After a GOAWAY the socket closes; without one it closes at once.
        let mut rest = Vec::new();
        let eof = s.read_to_end(&mut rest).is_ok();
        eprintln!("pinged after {pinged:?}; the unanswered ping ended the connection after {closed:?} ({end:?})");
        assert!(eof, "the connection was closed");
        assert!(closed < Duration::from_secs(8), "closed after {closed:?}; the bounds were 1 s and 1 s");

        // A header list over 4 KiB is refused: a 431, a reset stream or a GOAWAY, never served.
        let mut s = h2raw::connect(addr, Duration::from_secs(10));
        let big = "v".repeat(8 * 1024);
        s.write_all(&h2raw::get(1, "/v1/models", &[("x-big", &big)])).expect("write");
        let refused = frames_until(&mut s, |f| match f.kind {
            h2raw::HEADERS if f.stream == 1 => Some(format!("status {:?}", h2raw::status_of(&f.payload))),
            h2raw::RST_STREAM if f.stream == 1 => Some("reset".into()),
            h2raw::GOAWAY => Some("goaway".into()),
            _ => None,
        });
        eprintln!("an 8 KiB header list over a 4 KiB bound: {refused:?}");
        assert!(refused.as_deref().is_ok_and(|r| r != "status Some(200)"), "{refused:?}");
        h2_get_ok(addr);
    })
    .await
    .expect("join");
}

/// CVE-2023-44487: streams opened and reset at once, as fast as a client can. hyper's bound on
/// streams reset before the server took them ends such a connection with GOAWAY
/// ENHANCE_YOUR_CALM; others are served all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_ends_its_connection() {
    let (_rt, addr) = support::gateway::start(&mock_route()).await;
    tokio::task::spawn_blocking(move || {
        let mut s = h2raw::connect(addr, Duration::from_secs(10));
        let mut batch = Vec::new();
        for i in 0..5_000u32 {
            let id = 2 * i + 1;
            batch.extend(h2raw::get(id, "/v1/models", &[]));
            batch.extend(h2raw::frame(h2raw::RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
        }
        // The server may close before all of it is written.
        let written = s.write_all(&batch);
        let end = frames_until(&mut s, |f| (f.kind == h2raw::GOAWAY).then(|| f.goaway_code()));
        eprintln!("5,000 opened-and-reset streams: write {written:?}, then {end:?}");
        assert_eq!(end, Ok(Some(0xb)), "GOAWAY ENHANCE_YOUR_CALM");
        h2_get_ok(addr);
    })
    .await
    .expect("join");
}

/// CVE-2024-27316 and kin: a header block that never ends (CONTINUATION after CONTINUATION).
/// The header list bound is applied while the block is read: the connection is ended instead of
/// buffering without limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_ends_its_connection() {
    let (_rt, addr) = support::gateway::start(&mock_route()).await;
    tokio::task::spawn_blocking(move || {
        let mut s = h2raw::connect(addr, Duration::from_secs(10));
        let start = h2raw::header_block(&[(":method", "GET"), (":scheme", "http"), (":path", "/v1/models")]);
        s.write_all(&h2raw::frame(h2raw::HEADERS, 0, 1, &start)).expect("headers");
        // 16 KiB of headers per frame, never END_HEADERS: 64 MiB at most.
        let chunk: Vec<u8> =
            (0..150).flat_map(|i| h2raw::header_block(&[(&format!("x-h{i}"), &"a".repeat(100))])).collect();
        let frame = h2raw::frame(h2raw::CONTINUATION, 0, 1, &chunk);
        let mut sent = 0usize;
        let mut write_error = None;
        for _ in 0..4_000 {
            if let Err(e) = s.write_all(&frame) {
                write_error = Some(e.kind());
                break;
            }
            sent += frame.len();
        }
        let end = frames_until(&mut s, |f| (f.kind == h2raw::GOAWAY).then(|| f.goaway_code()));
        eprintln!("CONTINUATION flood: {} KiB written ({write_error:?}), then {end:?}", sent / 1024);
        assert!(
            write_error.is_some() || end.is_ok(),
            "the server kept reading an endless header block: {} KiB sent, {end:?}",
            sent / 1024
        );
        assert!(sent < 64 << 20, "the server took the whole 64 MiB");
        h2_get_ok(addr);
    })
    .await
    .expect("join");
}

/// The Gateway's own cap (2) and head-read timeout (2 s), instead of the process defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_policy_caps_its_connections_and_bounds_head_reads() {
    let config = mock_route()
        + &support::yaml::gateway_policy("conn", "  connections: {maxConnections: 2, headerReadTimeout: 2s}\n");
    let (_rt, addr) = support::gateway::start(&config).await;
    tokio::task::spawn_blocking(move || {
        let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).expect("connect")).collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut waiting = TcpStream::connect(addr).expect("connect");
        let start = Instant::now();
        waiting.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        waiting.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut answer = Vec::new();
        let _ = waiting.read_to_end(&mut answer);
        let served = start.elapsed();
        let answer = String::from_utf8_lossy(&answer).to_string();
        eprintln!("the third connection was served after {served:?}, when the idle ones were closed");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(served >= Duration::from_millis(1200), "served at once ({served:?}): the cap of 2 did not hold");

        // Each idle connection was closed by the 2 s head-read bound.
        for mut s in idle {
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut rest = Vec::new();
            assert!(s.read_to_end(&mut rest).is_ok(), "an idle connection was closed");
        }
        let mut slow = TcpStream::connect(addr).expect("connect");
        slow.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n").expect("partial head");
        slow.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let start = Instant::now();
        let mut answer = Vec::new();
        let _ = slow.read_to_end(&mut answer);
        let elapsed = start.elapsed();
        let answer = String::from_utf8_lossy(&answer).to_string();
        eprintln!("a partial head was answered after {elapsed:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        assert!(elapsed < Duration::from_secs(8), "the Gateway's 2 s bound, not the default 10 s: {elapsed:?}");
    })
    .await
    .expect("join");
}

/// A backend that takes requests and then, per connection, sends nothing (`head: false`) or a
/// response head and three bytes of a longer body (`head: true`), and holds the connection.
fn stalling_backend(head: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(16) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                if head {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
                }
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policys_timeouts_bound_a_proxied_routes_backend() {
    let silent = stalling_backend(false);
    let half = stalling_backend(true);
    let config = format!(
        "{}{}{}{}",
        support::yaml::gateway_route(80, "llm", &["{name: silent, port: 80}"])
            .replace("  rules:\n", "  rules:\n    - matches: [{path: {type: PathPrefix, value: /half}}]\n      backendRefs: [{name: half, port: 80}]\n"),
        support::yaml::local_service("silent", silent),
        support::yaml::local_service("half", half),
        support::yaml::route_policy("waits", "  timeouts: {responseHeader: 1s, bodyIdle: 1s}\n"),
    );
    let (_rt, addr) = support::gateway::start(&config).await;
    let start = Instant::now();
    let (status, _, body) = support::gateway::request(addr, "GET", "/", &[], "").await;
    let elapsed = start.elapsed();
    eprintln!("a silent backend: {status} after {elapsed:?}");
    assert_eq!(status, 504, "{body}");
    assert!(elapsed < Duration::from_secs(10), "the policy's 1 s, not the default 30 s: {elapsed:?}");

    let start = Instant::now();
    let (status, _, body) = support::gateway::request(addr, "GET", "/half", &[], "").await;
    let elapsed = start.elapsed();
    eprintln!("a body that stalls: {status} with {} bytes after {elapsed:?}", body.len());
    assert_eq!((status, body.as_str()), (200, "abc"), "the head and what came, then the body cut");
    assert!(elapsed < Duration::from_secs(10), "the policy's 1 s, not the default 5 minutes: {elapsed:?}");
}

#[tokio::test]
async fn connection_bounds_target_a_whole_gateway_only() {
    let config = mock_route() + &support::yaml::route_policy("misplaced", "  connections: {maxConnections: 5}\n");
    let loaded = sluice::config::parse_text("test.yaml", &config);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rt = sluice::runtime::Runtime::new(sluice::runtime::BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let snapshot = rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let problems = format!("{:?}", snapshot.status.problems());
    assert!(problems.contains("spec.connections: only a whole Gateway can be targeted"), "{problems}");
}

/// A mirror backend that answers a head and part of a body, then holds the connection; the
/// receiver hears how long after the request the gateway closed it.
fn held_mirror() -> (u16, std::sync::mpsc::Receiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in listener.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let start = Instant::now();
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                // EOF (or a reset) once the gateway gives the mirror up.
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                let _ = tx.send(start.elapsed());
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_never_finishes_is_given_up_at_its_deadline() {
    let echo = support::echo::start_local("echo-0", "echo").await;
    let (mirror_port, closed) = held_mirror();
    let config = format!(
        "{}{}{}{}",
        support::yaml::gateway_route(80, "llm", &["{name: echo, port: 80}"]).replace(
            "  rules:\n    - backendRefs:\n",
            "  rules:\n    - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: mirror, port: 80}}}]\n      backendRefs:\n"
        ),
        support::yaml::local_service("echo", echo.http_port),
        support::yaml::local_service("mirror", mirror_port),
        support::yaml::route_policy("waits", "  timeouts: {mirror: 1s}\n"),
    );
    let (_rt, addr) = support::gateway::start(&config).await;
    let start = Instant::now();
    let (status, _, body) = support::gateway::request(addr, "GET", "/", &[], "").await;
    let answered = start.elapsed();
    assert_eq!(status, 200, "{body}");
    let given_up = tokio::task::spawn_blocking(move || closed.recv_timeout(Duration::from_secs(20)))
        .await
        .expect("join")
        .expect("the mirror's connection was closed");
    eprintln!("answered after {answered:?}; the held mirror given up {given_up:?} after its request");
    assert!(answered < Duration::from_secs(1), "the client does not wait for the mirror: {answered:?}");
    assert!(given_up < Duration::from_secs(5), "the policy's 1 s, not the default 30 s: {given_up:?}");
}

/// An HTTP/1.1 keep-alive connection that goes quiet after an answer is closed at the
/// head-read bound (the wait for the next request's head), without a 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_the_head_read_bound() {
    let config = mock_route() + &support::yaml::gateway_policy("conn", "  connections: {headerReadTimeout: 2s}\n");
    let (_rt, addr) = support::gateway::start(&config).await;
    let (closed_after, rest) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        // The answer (its length is declared), then silence from the client.
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed before answering");
            answer.extend_from_slice(&buf[..n]);
            if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a declared length");
        while answer.len() < head_end + length {
            let n = s.read(&mut buf).expect("read the body");
            assert!(n > 0, "the body was cut");
            answer.extend_from_slice(&buf[..n]);
        }
        let idle = Instant::now();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        (idle.elapsed(), String::from_utf8_lossy(&rest).to_string())
    })
    .await
    .expect("join");
    eprintln!("an idle keep-alive connection was closed after {closed_after:?}");
    assert!(rest.is_empty(), "nothing is sent to an idle connection (no 408): {rest:?}");
    assert!(
        closed_after >= Duration::from_millis(1500) && closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}; the bound was 2 s"
    );
}
