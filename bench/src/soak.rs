//! The soak: a long mixed load on one Sluice — plain requests, streamed chat completions, MCP
//! sessions opened, used and ended — with Sluice's resident memory and open descriptors read at
//! a fixed interval. Both must plateau: a leak shows as growth that does not stop.
//!
//! Verdict: the first fifth of the samples is warm-up; of the rest, the second half's highest
//! value may exceed the first half's by at most 5 % (memory) or 16 descriptors, plus a small
//! absolute slack for memory (2 MiB: allocator arenas).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::mcp_load;

/// Plain clients, streaming clients, MCP clients.
pub const PLAIN: usize = 4;
pub const STREAMING: usize = 2;
pub const MCP: usize = 1;
/// Requests on one connection before a client opens a new one (connections come and go too).
const PER_CONNECTION: usize = 50;

/// Sluice's configuration: `/v1` to an AIBackend (the upstream's fake OpenAI provider), `/mcp`
/// to the MCPBackend of [`mcp_load::sluice_conf`], anything else to the upstream.
pub fn sluice_conf(gateway: &str, up: u16) -> String {
    mcp_load::sluice_conf(gateway, up) + &crate::targets::ai_route(up, crate::targets::AiProvider::OpenAi)
}

/// One reading of the proxy.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    pub fds: usize,
    pub plain: u64,
    pub streams: u64,
    pub mcp_sessions: u64,
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    plain: AtomicU64,
    streams: AtomicU64,
    mcp_sessions: AtomicU64,
    errors: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn failed(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
}

async fn connect(port: u16) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

/// One request on `send`; the whole body read. `Err` on a failure or a status other than 200.
async fn exchange(send: &mut http1::SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Result<usize, String> {
    send.ready().await.map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if status != http::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(200).collect::<String>()));
    }
    Ok(body.len())
}

/// A client sending `request()` over and over, on a new connection every [`PER_CONNECTION`];
/// each answer counted in `served(c)`.
async fn http_client(
    port: u16,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
    served: fn(&Counters) -> &AtomicU64,
    request: fn() -> Request<Full<Bytes>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut send = match connect(port).await {
            Ok(s) => s,
            Err(e) => {
                c.failed(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        for _ in 0..PER_CONNECTION {
            match exchange(&mut send, request()).await {
                Ok(_) => served(&c).fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    c.failed(e);
                    break;
                }
            };
        }
    }
}

fn plain_request() -> Request<Full<Bytes>> {
    Request::get("/bytes/1024").header(header::HOST, "bench").body(Full::new(Bytes::new())).expect("request")
}

fn stream_request() -> Request<Full<Bytes>> {
    const BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"Say something."}]}"#;
    Request::post("/v1/chat/completions")
        .header(header::HOST, "bench")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer sk-client")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("request")
}

async fn mcp_client(port: u16, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    while !stop.load(Ordering::Relaxed) {
        let session = async {
            let mut client = mcp_load::Client::connect(port, mcp_load::ROUTE).await?;
            client.rpc("tools/list", "{}").await?;
            for _ in 0..3 {
                client.rpc("tools/call", r#"{"name":"t0_echo","arguments":{"text":"soak"}}"#).await?;
            }
            client.close().await
        };
        match session.await {
            Ok(()) => c.mcp_sessions.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                c.failed(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                0
            }
        };
    }
}

/// The proxy process's resident memory (KiB) and open descriptors.
pub fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

/// Runs the load on Sluice's `port` for `duration`, reading `pid` every `every`.
pub fn run(port: u16, pid: u32, duration: Duration, every: Duration) -> Result<(Vec<Sample>, Option<String>), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let c = Arc::new(Counters::default());
    let mut tasks = Vec::new();
    for _ in 0..PLAIN {
        tasks.push(rt.spawn(http_client(port, stop.clone(), c.clone(), |c| &c.plain, plain_request)));
    }
    for _ in 0..STREAMING {
        tasks.push(rt.spawn(http_client(port, stop.clone(), c.clone(), |c| &c.streams, stream_request)));
    }
    for _ in 0..MCP {
        tasks.push(rt.spawn(mcp_client(port, stop.clone(), c.clone())));
    }
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        let (rss_kib, fds) = usage(pid);
        samples.push(Sample {
            at: start.elapsed(),
            rss_kib,
            fds,
            plain: c.plain.load(Ordering::Relaxed),
            streams: c.streams.load(Ordering::Relaxed),
            mcp_sessions: c.mcp_sessions.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        });
        if start.elapsed() >= duration {
            break;
        }
        std::thread::sleep(every.min(duration.saturating_sub(start.elapsed())).max(Duration::from_millis(10)));
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    let last_error = c.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((samples, last_error))
}

/// Whether `values` plateau after warm-up: the second half's highest value over the first half's
/// at most by `ratio` of it plus `slack`. Returns the verdict and the two highs.
pub fn plateau(values: &[f64], ratio: f64, slack: f64) -> (bool, f64, f64) {
    let warm = values.len() / 5;
    let rest = &values[warm.min(values.len())..];
    if rest.len() < 2 {
        return (false, 0.0, 0.0);
    }
    let (first, second) = rest.split_at(rest.len() / 2);
    let high = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let (a, b) = (high(first), high(second));
    (b <= a * (1.0 + ratio) + slack, a, b)
}

/// The report: the samples, then the verdicts. Returns it, whether both plateaued, and whether
/// every kind of traffic was served.
pub fn render(samples: &[Sample], last_error: Option<&str>) -> (String, bool, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "| t (s) | RSS (MiB) | descriptors | plain | streams | MCP sessions | errors |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for s in samples {
        let _ = writeln!(
            out,
            "| {:.0} | {:.1} | {} | {} | {} | {} | {} |",
            s.at.as_secs_f64(),
            s.rss_kib as f64 / 1024.0,
            s.fds,
            s.plain,
            s.streams,
            s.mcp_sessions,
            s.errors
        );
    }
    let rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64).collect();
    let fds: Vec<f64> = samples.iter().map(|s| s.fds as f64).collect();
    let (rss_ok, r1, r2) = plateau(&rss, 0.05, 2048.0);
    let (fds_ok, f1, f2) = plateau(&fds, 0.0, 16.0);
    let last = samples.last();
    let served = last.is_some_and(|s| s.plain > 0 && s.streams > 0 && s.mcp_sessions > 0);
    let _ = writeln!(
        out,
        "\nRSS after warm-up: highest {:.1} MiB in the first half, {:.1} MiB in the second: {}",
        r1 / 1024.0,
        r2 / 1024.0,
        if rss_ok { "plateau" } else { "GROWING" }
    );
    let _ = writeln!(
        out,
        "Descriptors after warm-up: highest {f1} in the first half, {f2} in the second: {}",
        if fds_ok { "plateau" } else { "GROWING" }
    );
    if let Some(s) = last {
        let _ = writeln!(
            out,
            "Served: {} plain requests, {} streamed completions, {} MCP sessions; {} errors{}",
            s.plain,
            s.streams,
            s.mcp_sessions,
            s.errors,
            last_error.map(|e| format!(" (last: {e})")).unwrap_or_default()
        );
    }
    (out, rss_ok && fds_ok, served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plateau_is_told_from_growth() {
        let flat = [100.0, 120.0, 130.0, 131.0, 130.0, 132.0, 131.0, 130.0, 131.0, 132.0];
        assert!(plateau(&flat, 0.05, 0.0).0);
        let growing: Vec<f64> = (0..10).map(|i| 100.0 + 10.0 * f64::from(i)).collect();
        assert!(!plateau(&growing, 0.05, 0.0).0);
    }
}
