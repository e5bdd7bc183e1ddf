//! The benchmark scenarios. P1 (plain proxying) is here; P2–P6 of issue 5 extend this list.

/// The protocol the load generator speaks to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 keep-alive, with wrk.
    H1,
    /// h2c with prior knowledge, with h2load, this many streams per connection.
    H2 { streams: u32 },
}

/// One load shape, run against every target.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Stable identifier, used by `--scenarios` and in the raw CSV.
    pub id: &'static str,
    /// The scenario group (`P1`, ...).
    pub group: &'static str,
    pub title: &'static str,
    pub proto: Proto,
    /// Request path on the upstream (see `upstream.rs` for what each path answers).
    pub path: &'static str,
    pub connections: u32,
}

/// P1: plain proxying of GETs with fixed-size bodies.
pub fn p1() -> Vec<Scenario> {
    let h1 = |id, title, path, connections| Scenario { id, group: "P1", title, proto: Proto::H1, path, connections };
    let h2 = |id, title, streams, connections| Scenario {
        id,
        group: "P1",
        title,
        proto: Proto::H2 { streams },
        path: "/bytes/1024",
        connections,
    };
    vec![
        h1("p1-h1-1k-c1", "HTTP/1.1 keep-alive, 1 KiB response, 1 connection", "/bytes/1024", 1),
        h1("p1-h1-1k-c32", "HTTP/1.1 keep-alive, 1 KiB response, 32 connections", "/bytes/1024", 32),
        h1("p1-h1-1k-c64", "HTTP/1.1 keep-alive, 1 KiB response, 64 connections", "/bytes/1024", 64),
        h1("p1-h1-16k-c1", "HTTP/1.1 keep-alive, 16 KiB response, 1 connection", "/bytes/16384", 1),
        h1("p1-h1-16k-c64", "HTTP/1.1 keep-alive, 16 KiB response, 64 connections", "/bytes/16384", 64),
        h2("p1-h2-1k-c1", "h2c, 1 KiB response, 1 connection × 1 stream", 1, 1),
        h2("p1-h2-1k-c8m8", "h2c, 1 KiB response, 8 connections × 8 streams", 8, 8),
    ]
}

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    p1()
}
