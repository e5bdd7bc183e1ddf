//! `bench-upstream`: the fast upstream the benchmark proxies forward to.
//!
//! ```text
//! bench-upstream [--addr 127.0.0.1] [--port 0] [--threads 1] [--body-size 1024]
//!                [--chunk-interval-us 10000] [--chunks 100]
//! ```
//! `--chunk-interval-us` and `--chunks`: the defaults of the fake LLM streams (see
//! `sluice_bench::upstream::chat`).
//! Prints `listening on ADDR:PORT` once it accepts connections. HTTP/1.1 and h2c (prior knowledge).

use std::net::SocketAddr;
use std::process::ExitCode;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sluice_bench::upstream::body_buffer;
use sluice_bench::upstream::chat::ChatOpts;
use sluice_bench::upstream::respond_any;
use tokio::net::TcpListener;

struct Args {
    addr: SocketAddr,
    threads: usize,
    body_size: usize,
    chat: ChatOpts,
}

fn parse_args() -> Result<Args, String> {
    let mut ip = "127.0.0.1".to_string();
    let mut port = 0u16;
    let mut threads = 1usize;
    let mut body_size = 1024usize;
    let mut chat = ChatOpts::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => ip = val()?,
            "--port" => port = val()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--threads" => threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--body-size" => body_size = val()?.parse().map_err(|e| format!("--body-size: {e}"))?,
            "--chunk-interval-us" => {
                let us = val()?.parse().map_err(|e| format!("--chunk-interval-us: {e}"))?;
                chat.interval = std::time::Duration::from_micros(us);
            }
            "--chunks" => chat.default_chunks = val()?.parse().map_err(|e| format!("--chunks: {e}"))?,
            "-h" | "--help" => {
                return Err("usage: bench-upstream [--addr IP] [--port N] [--threads N] [--body-size BYTES] \
                            [--chunk-interval-us US] [--chunks N]"
                    .into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr = format!("{ip}:{port}").parse().map_err(|e| format!("address {ip}:{port}: {e}"))?;
    Ok(Args { addr, threads: threads.max(1), body_size, chat })
}

async fn serve(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let buf = body_buffer();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let buf = buf.clone();
        let (size, chat) = (args.body_size, args.chat);
        tokio::spawn(async move {
            let svc = service_fn(move |req| respond_any(req, buf.clone(), size, chat));
            // Errors here are clients going away; nothing to report.
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()
    };
    let result = match rt {
        Ok(rt) => rt.block_on(serve(args)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}
