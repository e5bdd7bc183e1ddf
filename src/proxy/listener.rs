//! Accepting connections on one bound port and serving HTTP/1.1, h2 and h2c on them.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

use super::handler::{self, ConnInfo, Shared};
use super::head_timeout::{self, Reclaimable};
use super::{passthrough, tls};
use crate::ir::{BindKey, PortProtocol};

/// A client that has not sent a request's whole head within this is closed (slowloris); it
/// also bounds how long an idle HTTP/1.1 keep-alive connection is kept.
const HEADER_READ: Duration = Duration::from_secs(10);
/// A TLS client that has not finished its handshake within this is closed.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// HTTP/2: a ping after this much silence, and the connection closed when its answer does not
/// come within as long again.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

/// Most connections open at once on one listening port, unless `--max-connections` says
/// otherwise (each costs a descriptor; the process's descriptor limit must allow for them).
pub const MAX_CONNECTIONS: usize = 10_000;

/// How often reaching the connection cap is logged while it lasts.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Accepts connections until the task is aborted; connections already accepted run to their end.
pub async fn run(listener: TcpListener, bind: BindKey, protocol: PortProtocol, shared: Arc<Shared>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(shared.drain.max_connections()));
    let mut warned: Option<tokio::time::Instant> = None;
    loop {
        // At the cap, accepting waits until a connection ends (clients wait in the kernel's
        // accept queue): the process never holds more than the cap.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() > CAP_WARNING_EVERY) {
                    tracing::warn!(%bind, max = shared.drain.max_connections(), "connection cap reached: new connections wait");
                    warned = Some(tokio::time::Instant::now());
                }
                tokio::select! {
                    biased;
                    () = shared.drain.started() => return,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            biased;
            () = shared.drain.started() => {
                // Stop accepting: the listening socket closes with this task.
                return;
            }
            a = listener.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, %bind, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let bind = bind.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = shared.drain.open();
            let shared = shared.clone();
            match protocol {
                PortProtocol::Https => serve_tls(stream, remote, bind, shared).await,
                PortProtocol::TlsPassthrough => passthrough::serve(stream, bind, shared).await,
                PortProtocol::Http => {
                    let conn = Arc::new(ConnInfo { bind, scheme: "http", remote, sni_listener: None });
                    serve_http(stream, conn, shared).await;
                }
            }
        });
    }
}

async fn serve_tls(stream: TcpStream, remote: std::net::SocketAddr, bind: BindKey, shared: Arc<Shared>) {
    let Ok(Some((tls_stream, sni_listener))) =
        tokio::time::timeout(TLS_HANDSHAKE, tls::accept(stream, &bind, &shared)).await
    else {
        return;
    };
    let conn = Arc::new(ConnInfo { bind, scheme: "https", remote, sni_listener: Some(sni_listener) });
    serve_http(tls_stream, conn, shared).await;
}

async fn serve_http<I>(io: I, conn: Arc<ConnInfo>, shared: Arc<Shared>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed: an HTTP/2 stream's task holds the service future inline for as long as the stream
    // lives, body included; boxed, the handler's state is freed as soon as the response head
    // is ready (P4: the resident memory of 10k open streams).
    let drain = shared.clone();
    let service = service_fn(move |req| Box::pin(handler::handle(shared.clone(), conn.clone(), req)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(H2_KEEPALIVE)).keep_alive_timeout(H2_KEEPALIVE);
    let io = Reclaimable::new(io);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io.clone()), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => r,
        () = drain.drain.started() => {
            // Finish what is in flight, take nothing new (HTTP/2: GOAWAY).
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        if head_timeout::is_head_timeout(&*e) && io.answer_timeout().await {
            tracing::debug!("a request head did not arrive in time: answered 408");
            return;
        }
        tracing::debug!(error = %e, "downstream connection ended with an error");
    }
}
