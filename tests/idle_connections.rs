//! 10,000 idle client connections: the gateway holds them without failing anyone else, then
//! closes every one at its head-read bound (15 s here) and gives back their descriptors (the
//! memory figures are printed: the allocator keeps what it freed).
//!
//! The clients connect from a loopback source address picked at random per run: the gateway
//! closes each connection first, so the TIME_WAIT it keeps for a minute would delay a later
//! run's connection from the same address and port by a SYN retransmission (a second).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::process;

const IDLE: usize = 10_000;

/// The gateway process's open descriptors and resident memory (KiB).
fn usage(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (fds, rss)
}

fn get_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200")
}

#[test]
fn ten_thousand_idle_connections_are_held_then_closed_and_freed() {
    // This process and the gateway (which inherits the limit) each hold 10,000 sockets.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        hard >= IDLE as u64 + 1_000,
        "the hard descriptor limit is {hard}: this test needs {} (raise it with `ulimit -Hn`)",
        IDLE + 1_000
    );
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit { current: Some(hard), maximum: limit.maximum },
    )
    .expect("raise the soft descriptor limit");

    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let config = support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("")
        + &support::yaml::gateway_policy("bounds", "  connections: {maxConnections: 10100, headerReadTimeout: 15s}\n");
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config).expect("write");
    let gw = process::Gateway::start(&file);
    let pid = gw.child.id();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    assert!(get_ok(addr));
    let (fds_before, rss_before) = usage(pid);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    eprintln!("the gateway's {}", limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("?"));

    let opened = Instant::now();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    let source: SocketAddr =
        format!("127.{}.{}.{}:0", 1 + nanos % 250, 1 + (nanos / 250) % 250, 1 + (nanos / 62_500) % 250)
            .parse()
            .expect("source");
    let connect = |i: usize| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        s.bind(&source.into()).unwrap_or_else(|e| panic!("bind {source}: {e}"));
        s.connect(&addr.into()).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        TcpStream::from(s)
    };
    let idle: Vec<TcpStream> = (0..IDLE).map(connect).collect();
    let took = opened.elapsed();
    // Every one accepted: the gateway holds a descriptor for each.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (fds_held, rss_held) = loop {
        let (fds, rss) = usage(pid);
        if fds + 8 >= fds_before + IDLE || Instant::now() > deadline {
            break (fds, rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        fds_held + 8 >= fds_before + IDLE,
        "the gateway holds {fds_held} descriptors (before: {fds_before}); opened in {took:?}"
    );
    assert!(get_ok(addr), "a client is served while 10,000 idle connections are open");

    assert!(
        took < Duration::from_secs(10),
        "opening them took {took:?}: the first would be closed before the last opened"
    );
    // The head-read bound (15 s from each connection's start) closes them all.
    for (i, mut s) in idle.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut buf = [0u8; 16];
        let read = s.read(&mut buf);
        assert!(matches!(read, Ok(0)), "idle connection {i} was not closed by the gateway: {read:?}");
    }
    let closed_after = opened.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (fds_after, rss_after) = loop {
        let (fds, rss) = usage(pid);
        if fds <= fds_before + 8 || Instant::now() > deadline {
            break (fds, rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "10,000 idle connections opened in {took:?}; gateway descriptors {fds_before} -> {fds_held} -> {fds_after}, \
         RSS {rss_before} -> {rss_held} -> {rss_after} KiB ({:.1} KiB per idle connection); all closed by the gateway \
         {closed_after:?} after the first opened",
        (rss_held.saturating_sub(rss_before)) as f64 / IDLE as f64
    );
    assert!(fds_after <= fds_before + 8, "descriptors were not given back: {fds_after} (before: {fds_before})");
    assert!(get_ok(addr), "served after");
}
