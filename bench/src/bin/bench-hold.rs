//! `bench-hold`: the P4 client. Opens `--connections` h2c connections (prior knowledge) with
//! `--streams` concurrent GETs each, waits until every stream has received its first body
//! bytes, prints `ready STREAMS MS`, then keeps every stream open (reading what arrives) until
//! its standard input closes. Streams that fail are reported as `error …` lines.
//!
//! ```text
//! bench-hold --url 'http://127.0.0.1:PORT/sse?chunks=100000&interval_ms=1000' --connections 100 --streams 100
//! ```

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Notify;

struct Args {
    addr: String,
    path: String,
    connections: usize,
    streams: usize,
}

fn parse_args() -> Result<Args, String> {
    let (mut url, mut connections, mut streams) = (None, 100usize, 100usize);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(val()?),
            "--connections" => connections = val()?.parse().map_err(|e| format!("--connections: {e}"))?,
            "--streams" => streams = val()?.parse().map_err(|e| format!("--streams: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !authority.starts_with("127.") {
        return Err("only loopback addresses".into());
    }
    Ok(Args { addr: authority.to_string(), path: path.to_string(), connections, streams })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-hold: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-hold: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let total = args.connections * args.streams;
    let started = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let t0 = Instant::now();
    for _ in 0..args.connections {
        let tcp = match TcpStream::connect(&args.addr).await {
            Ok(t) => t,
            Err(e) => {
                println!("error connect: {e}");
                return ExitCode::FAILURE;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (send, conn) = match http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(64 * 1024)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
            .await
        {
            Ok(x) => x,
            Err(e) => {
                println!("error handshake: {e}");
                return ExitCode::FAILURE;
            }
        };
        tokio::spawn(conn);
        for _ in 0..args.streams {
            let mut send = send.clone();
            let (started, failed, progress) = (started.clone(), failed.clone(), progress.clone());
            let uri = format!("http://{}{}", args.addr, args.path);
            tokio::spawn(async move {
                let fail = |e: String| {
                    println!("error {e}");
                    failed.fetch_add(1, Ordering::Relaxed);
                    progress.notify_one();
                };
                let req = match Request::get(&uri).body(Empty::new()) {
                    Ok(r) => r,
                    Err(e) => return fail(e.to_string()),
                };
                let resp = match send.send_request(req).await {
                    Ok(r) => r,
                    Err(e) => return fail(e.to_string()),
                };
                let mut body = resp.into_body();
                let mut first = true;
                while let Some(frame) = body.frame().await {
                    match frame {
                        Ok(f) if first && f.data_ref().is_some_and(|d| !d.is_empty()) => {
                            first = false;
                            started.fetch_add(1, Ordering::Relaxed);
                            progress.notify_one();
                        }
                        Ok(_) => {}
                        Err(e) => return fail(e.to_string()),
                    }
                }
                if first {
                    fail("the stream ended before any data".into());
                }
            });
        }
    }
    loop {
        let (s, f) = (started.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        if s + f >= total {
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            println!("error timeout: {s} of {total} streams started");
            return ExitCode::FAILURE;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), progress.notified()).await;
    }
    let s = started.load(Ordering::Relaxed);
    println!("ready {s} {}", t0.elapsed().as_millis());
    // Hold until the harness closes our standard input.
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
    })
    .await;
    if s == total { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
