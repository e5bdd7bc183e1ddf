//! `bench-stream`: the P3 client. Opens streamed chat completions (OpenAI format) against a URL
//! and stamps the arrival of every content chunk; see `sluice_bench::streaming`.
//!
//! ```text
//! bench-stream --url http://127.0.0.1:PORT/v1/chat/completions [--streams 40] [--concurrency 4]
//!              [--chunks 100] [--interval-us 10000]
//! ```
//! `--interval-us` only staggers the concurrent streams (by interval/concurrency) and bounds the
//! wait; the upstream's own setting paces the chunks. Prints one `stream` line per stream (TTFT
//! µs, complete, chunks, held back, before last, then every chunk's delay in µs) and `error`
//! lines; exits non-zero when no stream completed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use sluice_bench::scenarios::CLIENT_KEY;
use sluice_bench::streaming::{StreamSample, marker, stream_request};
use sluice_bench::upstream::chat::now_ns;
use tokio::net::TcpStream;

struct Args {
    host: String,
    port: u16,
    path: String,
    streams: usize,
    concurrency: usize,
    chunks: usize,
    interval: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let (mut streams, mut concurrency, mut chunks, mut interval_us) = (40usize, 4usize, 100usize, 10_000u64);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(val()?),
            "--streams" => streams = val()?.parse().map_err(|e| format!("--streams: {e}"))?,
            "--concurrency" => concurrency = val()?.parse().map_err(|e| format!("--concurrency: {e}"))?,
            "--chunks" => chunks = val()?.parse().map_err(|e| format!("--chunks: {e}"))?,
            "--interval-us" => interval_us = val()?.parse().map_err(|e| format!("--interval-us: {e}"))?,
            "-h" | "--help" => {
                return Err("usage: bench-stream --url http://127.0.0.1:PORT/PATH [--streams N] [--concurrency N] \
                            [--chunks N] [--interval-us US]"
                    .into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':').ok_or("the URL needs a port")?;
    if host != "127.0.0.1" && host != "localhost" {
        return Err("loopback addresses only".into());
    }
    Ok(Args {
        host: host.to_string(),
        port: port.parse().map_err(|e| format!("port: {e}"))?,
        path: if path.is_empty() { "/".into() } else { path.to_string() },
        streams: streams.clamp(1, 100_000),
        concurrency: concurrency.clamp(1, 1000),
        chunks: chunks.max(1),
        interval: Duration::from_micros(interval_us),
    })
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(a: &Args) -> Result<Sender, String> {
    let tcp = TcpStream::connect((a.host.as_str(), a.port)).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One stream: send the request, read the SSE body, stamp every content chunk.
async fn one(sender: &mut Sender, a: &Args, body: &Bytes) -> Result<StreamSample, String> {
    sender.ready().await.map_err(|e| format!("connection: {e}"))?;
    let req = Request::post(a.path.as_str())
        .header(header::HOST, format!("{}:{}", a.host, a.port))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {CLIENT_KEY}"))
        .body(Full::new(body.clone()))
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let resp = sender.send_request(req).await.map_err(|e| format!("request: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let b = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        return Err(format!("status {status}: {}", String::from_utf8_lossy(&b).chars().take(200).collect::<String>()));
    }
    let mut body = resp.into_body();
    let mut s = StreamSample::default();
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let (arrived, arrived_ns) = (Instant::now(), now_ns());
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        let Ok(data) = frame.into_data() else { continue };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let ev = &pending[..end];
            if let Some((k, produced)) = marker(ev) {
                first.get_or_insert(arrived);
                s.chunks.push((k, produced, arrived_ns));
            } else if ev.ends_with(b"[DONE]") || ev.windows(12).any(|w| w == b"message_stop") {
                s.complete = true;
            }
            pending.drain(..end + 2);
        }
    }
    s.ttft_us = first.map_or(f64::NAN, |f| f.duration_since(t0).as_secs_f64() * 1e6);
    Ok(s)
}

async fn worker(a: &Args, j: usize, body: Bytes) -> Vec<Result<StreamSample, String>> {
    // Stagger the concurrent streams so that their chunks do not arrive together.
    tokio::time::sleep(a.interval * j as u32 / a.concurrency as u32).await;
    let limit = a.interval * a.chunks as u32 + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut sender = None;
    for _ in (j..a.streams).step_by(a.concurrency) {
        if sender.as_ref().is_none_or(|s: &Sender| s.is_closed()) {
            match connect(a).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let r = match tokio::time::timeout(limit, one(s, a, &body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("stream not done within {} s", limit.as_secs())),
        };
        if r.is_err() {
            sender = None;
        }
        out.push(r);
    }
    out
}

async fn run(a: Args) -> usize {
    let body = Bytes::from(stream_request(a.chunks));
    let a = &a;
    let workers = (0..a.concurrency.min(a.streams)).map(|j| worker(a, j, body.clone()));
    let results = futures_join(workers.collect()).await;
    let mut ok = 0;
    for r in results.into_iter().flatten() {
        match r {
            Ok(s) => {
                ok += s.complete as usize;
                println!("{}", s.line());
            }
            Err(e) => println!("error\t{e}"),
        }
    }
    ok
}

/// Runs futures concurrently on this thread and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, o) in futs.iter_mut().zip(outs.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outs.into_iter().flatten().collect()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-stream: {e}");
            return ExitCode::FAILURE;
        }
    };
    if rt.block_on(run(args)) == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
