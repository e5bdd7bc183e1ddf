//! The per-listener connection cap (`sluice run --max-connections`): at the cap, a new
//! connection waits in the kernel's accept queue (no crash, no unbounded task growth) and is
//! served as soon as another connection ends.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::process;

const GET: &[u8] = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn status(s: &mut TcpStream) -> Option<u16> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    String::from_utf8_lossy(&out).split(' ').nth(1)?.parse().ok()
}

#[test]
fn at_the_cap_new_connections_wait_for_a_free_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let config = support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("");
    let file = root.path().join("config.yaml");
    std::fs::write(&file, config).expect("write config");
    let gw = process::Gateway::start_with(&file, &["--max-connections", "3"]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    // Serving before the cap is reached.
    let mut first = TcpStream::connect(addr).expect("connect");
    first.write_all(GET).expect("write");
    assert_eq!(status(&mut first), Some(200));

    // Three idle connections take every slot (the first one's slot is free again).
    let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    // A fourth connects (the kernel queues it) but is not served while the three stay.
    let mut waiting = TcpStream::connect(addr).expect("connect");
    waiting.write_all(GET).expect("write");
    waiting.set_read_timeout(Some(Duration::from_millis(1500))).expect("timeout");
    let mut buf = [0u8; 64];
    let early = waiting.read(&mut buf);
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    // One idle connection ends: the waiting one is served at once.
    drop(idle.pop());
    waiting.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let started = Instant::now();
    assert_eq!(status(&mut waiting), Some(200), "the queued connection was served once a slot freed");
    eprintln!("a queued connection was served {:?} after a slot freed", started.elapsed());
    // The admin plane is not behind the listener's cap.
    assert_eq!(gw.admin_get("/readyz").0, 200);
    drop(idle);
}
