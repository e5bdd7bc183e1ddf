//! Accepting connections on one bound port and serving HTTP/1.1, h2 and h2c on them.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

use super::handler::{self, ConnInfo, Shared};
use super::head_timeout::{self, Reclaimable};
use super::slots::Slots;
use super::{passthrough, tls};
use crate::ir::policy::ConnectionsIr;
use crate::ir::{BindKey, PortProtocol};

/// Most connections open at once on one listening port, unless `--max-connections` or the
/// Gateway's TrafficPolicy says otherwise (each costs a descriptor; the process's descriptor
/// limit must allow for them). The other client bounds are [`ConnectionsIr`]'s defaults.
pub const MAX_CONNECTIONS: usize = 10_000;

/// How often reaching the connection cap is logged while it lasts.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Accepts connections until the task is aborted; connections already accepted run to their end.
pub async fn run(listener: TcpListener, bind: BindKey, protocol: PortProtocol, shared: Arc<Shared>) {
    let slots = Arc::new(Slots::default());
    let mut warned: Option<tokio::time::Instant> = None;
    // The cap of the configuration in force when it is read.
    let cap = || {
        shared
            .snapshot
            .load()
            .port(&bind)
            .and_then(|p| p.connections.max_connections)
            .unwrap_or(shared.drain.max_connections())
    };
    loop {
        // At the cap, accepting waits until a connection ends (clients wait in the kernel's
        // accept queue): the process never holds more than the cap.
        let slot = match slots.try_take(cap()) {
            Some(slot) => slot,
            None => {
                if warned.is_none_or(|at| at.elapsed() > CAP_WARNING_EVERY) {
                    tracing::warn!(%bind, max = cap(), "connection cap reached: new connections wait");
                    warned = Some(tokio::time::Instant::now());
                }
                tokio::select! {
                    biased;
                    () = shared.drain.started() => return,
                    slot = slots.take(cap) => slot,
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
        let bounds = shared.snapshot.load().port(&bind).map(|p| p.connections.clone()).unwrap_or_default();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = shared.drain.open();
            let shared = shared.clone();
            match protocol {
                PortProtocol::Https => serve_tls(stream, remote, bind, shared, bounds).await,
                PortProtocol::TlsPassthrough => passthrough::serve(stream, bind, shared).await,
                PortProtocol::Http => {
                    let conn = Arc::new(ConnInfo { bind, scheme: "http", remote, sni_listener: None });
                    serve_http(stream, conn, shared, &bounds, false).await;
                }
            }
        });
    }
}

async fn serve_tls(
    stream: TcpStream,
    remote: std::net::SocketAddr,
    bind: BindKey,
    shared: Arc<Shared>,
    bounds: Arc<ConnectionsIr>,
) {
    let Ok(Some((tls_stream, sni_listener))) =
        tokio::time::timeout(bounds.tls_handshake, tls::accept(stream, &bind, &shared)).await
    else {
        return;
    };
    let conn = Arc::new(ConnInfo { bind, scheme: "https", remote, sni_listener: Some(sni_listener) });
    serve_http(tls_stream, conn, shared, &bounds, false).await;
}

/// Serves one connection. `half_close`: a client that ends its side after a request still gets
/// the answer. Off for clients (a client gone mid-request ends the work at once, an LLM call
/// included); the fuzz target sends its bytes and then ends its side.
pub(crate) async fn serve_http<I>(
    io: I,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared>,
    bounds: &ConnectionsIr,
    half_close: bool,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed: an HTTP/2 stream's task holds the service future inline for as long as the stream
    // lives, body included; boxed, the handler's state is freed as soon as the response head
    // is ready (P4: the resident memory of 10k open streams).
    let drain = shared.clone();
    let service = service_fn(move |req| Box::pin(handler::handle(shared.clone(), conn.clone(), req)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The head-read timeout also bounds an idle keep-alive connection (slowloris, idle
    // clients). HTTP/2 keeps hyper's rapid-reset and CONTINUATION-flood protections (its
    // defaults: pending and locally reset streams bounded, the header list bounded while read).
    builder.http1().timer(TokioTimer::new()).header_read_timeout(bounds.header_read).half_close(half_close);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(bounds.h2_keep_alive_interval)
        .keep_alive_timeout(bounds.h2_keep_alive_timeout)
        .max_concurrent_streams(bounds.h2_max_concurrent_streams)
        .max_header_list_size(bounds.h2_max_header_list_size);
    let io = Reclaimable::new(io);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io.clone()), service);
    tokio::pin!(conn);
    // A connection that sends nothing at all is closed after the head-read bound too (hyper's
    // own timer starts with the first byte of a request).
    let first_byte = tokio::time::sleep(bounds.header_read);
    tokio::pin!(first_byte);
    let (mut draining, mut waited) = (false, false);
    let ended = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            () = drain.drain.started(), if !draining => {
                // Finish what is in flight, take nothing new (HTTP/2: GOAWAY).
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = &mut first_byte, if !waited => {
                waited = true;
                if !io.started() {
                    tracing::debug!("a connection sent nothing within the head-read bound: closed");
                    return;
                }
            }
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
