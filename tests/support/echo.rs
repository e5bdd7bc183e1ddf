//! A Rust stand-in for the conformance suite's echo backend (echo-basic), following contract 1
//! of /work/shared/conformance/README.md.
//!
//! One [`start`] call is one echo pod: an HTTP/1.1 listener (echo-basic's port 3000: the mux with
//! `/health`, `/status/NNN`, `/retry/`, `/ws` and the echo handler), an h2c listener (port 3001:
//! HTTP/2 prior knowledge, or HTTP/1.1 with `Upgrade: h2c`, answered by the echo handler; any
//! other HTTP/1.x request gets `400 Expected h2c request`) and, with [`EchoTls`], an HTTPS
//! listener (port 8443: same mux, ALPN `h2`/`http/1.1`). All bind `bind_ip:0`; the JSON still
//! reports `"httpPort": "3000"` as the real pods do.
//!
//! Known differences from echo-basic: the `/retry/` handler is always present (the v1.5.1 image
//! lacks it); an HTTP/1.1 `Upgrade: h2c` request is answered over HTTP/1.1 instead of being
//! upgraded; `delay` is not read from multipart bodies; header names set via
//! `X-Echo-Set-Header` go out lower-cased.

pub mod goform;
mod handler;
mod json;
mod tlsinfo;
mod ws;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use tlsinfo::TlsInfo;

/// Go has no header-count limit (only a 1 MB size limit); hyper's default is 100.
const MAX_HEADERS: usize = 1000;

/// Identity and listeners of one echo pod.
pub struct EchoConfig {
    /// `NAMESPACE`, echoed as `namespace`.
    pub namespace: String,
    /// `POD_NAME`, echoed as `pod` (the suite matches it by prefix against the Service name).
    pub pod: String,
    /// `SERVICE_NAME`, echoed as `service`.
    pub service: String,
    pub bind_ip: IpAddr,
    /// Starts the HTTPS listener when set.
    pub tls: Option<EchoTls>,
}

/// HTTPS material (echo-basic's `TLS_SERVER_CERT`, `TLS_SERVER_PRIVKEY`, `TLS_CLIENT_CACERTS`).
pub struct EchoTls {
    /// Certificate chain, leaf first.
    pub cert_pem: String,
    /// PKCS#8, PKCS#1 or SEC1 private key.
    pub key_pem: String,
    /// When set, client certificates are verified against it if the client sends one.
    pub client_ca_pem: Option<String>,
}

/// A running echo pod. Dropping the last clone stops its listeners and open connections.
#[derive(Clone)]
pub struct EchoHandle {
    /// echo-basic's port 3000.
    pub http_port: u16,
    /// echo-basic's port 3001.
    pub h2c_port: u16,
    /// echo-basic's port 8443, when TLS was configured.
    pub https_port: Option<u16>,
    /// The RequestURI of every request the echo handler answered, in arrival order (echo-basic
    /// logs `Echoing back request made to <RequestURI> ...`, which the mirror tests look for).
    pub log: Arc<Mutex<Vec<String>>>,
    _listeners: Arc<Listeners>,
}

struct Listeners(Vec<AbortHandle>);

impl Drop for Listeners {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Starts an echo pod on `cfg.bind_ip` with OS-assigned ports.
pub async fn start(cfg: EchoConfig) -> io::Result<EchoHandle> {
    let acceptor = match &cfg.tls {
        Some(tls) => Some(TlsAcceptor::from(tlsinfo::server_config(tls)?)),
        None => None,
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(Shared {
        namespace: cfg.namespace,
        pod: cfg.pod,
        service: cfg.service,
        log: log.clone(),
        retries: Mutex::new(HashMap::new()),
    });
    let http = TcpListener::bind((cfg.bind_ip, 0)).await?;
    let h2c = TcpListener::bind((cfg.bind_ip, 0)).await?;
    let https = match acceptor {
        Some(acceptor) => Some((TcpListener::bind((cfg.bind_ip, 0)).await?, acceptor)),
        None => None,
    };
    let http_port = http.local_addr()?.port();
    let h2c_port = h2c.local_addr()?.port();
    let https_port = match &https {
        Some((listener, _)) => Some(listener.local_addr()?.port()),
        None => None,
    };
    let mut tasks = vec![
        tokio::spawn(accept_loop(http, Port::Http, None, shared.clone())).abort_handle(),
        tokio::spawn(accept_loop(h2c, Port::H2c, None, shared.clone())).abort_handle(),
    ];
    if let Some((listener, acceptor)) = https {
        let task = accept_loop(listener, Port::Https, Some(acceptor), shared);
        tasks.push(tokio::spawn(task).abort_handle());
    }
    Ok(EchoHandle { http_port, h2c_port, https_port, log, _listeners: Arc::new(Listeners(tasks)) })
}

/// State shared by all listeners of one echo pod.
struct Shared {
    namespace: String,
    pod: String,
    service: String,
    log: Arc<Mutex<Vec<String>>>,
    retries: Mutex<HashMap<String, i64>>,
}

impl Shared {
    fn record(&self, request_uri: &str) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.push(request_uri.to_owned());
    }

    fn lock_retries(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.retries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Copy)]
enum Port {
    /// 3000: HTTP/1.1 only, with upgrades (websocket).
    Http,
    /// 3001: h2c prior knowledge or HTTP/1.1.
    H2c,
    /// 8443: TLS, then HTTP/2 or HTTP/1.1.
    Https,
}

/// What a request handler knows about its connection.
struct ConnCtx {
    port: Port,
    shared: Arc<Shared>,
    tls: Option<TlsInfo>,
    reset: Resetter,
}

/// Lets a handler reset its TCP connection: SO_LINGER 0 on the socket (through a duplicate
/// descriptor), then the connection task drops the connection, and closing makes the kernel
/// send RST.
struct Resetter {
    dup: Mutex<Option<std::net::TcpStream>>,
    requested: Notify,
}

impl Resetter {
    fn new(tcp: &TcpStream) -> io::Result<Self> {
        let dup = tcp.as_fd().try_clone_to_owned()?;
        Ok(Resetter { dup: Mutex::new(Some(dup.into())), requested: Notify::new() })
    }

    fn reset(&self) {
        let dup = self.dup.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Ok(dup)) = dup.map(TcpStream::from_std) {
            // Socket options belong to the socket, so this also applies to the original fd.
            let _ = dup.set_zero_linger();
        }
        self.requested.notify_one();
    }
}

async fn accept_loop(listener: TcpListener, port: Port, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    conns.spawn(serve_conn(tcp, port, acceptor.clone(), shared.clone()));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(tcp: TcpStream, port: Port, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let Ok(reset) = Resetter::new(&tcp) else {
        return;
    };
    let mut ctx = ConnCtx { port, shared, tls: None, reset };
    match (port, acceptor) {
        (Port::Https, Some(acceptor)) => {
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
            let Ok(Ok(stream)) = handshake.await else {
                return;
            };
            ctx.tls = Some(TlsInfo::from_connection(stream.get_ref().1));
            serve_http(TokioIo::new(stream), Arc::new(ctx)).await;
        }
        _ => serve_http(TokioIo::new(tcp), Arc::new(ctx)).await,
    }
}

async fn serve_http<I>(io: I, ctx: Arc<ConnCtx>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service_ctx = ctx.clone();
    let service = service_fn(move |req| {
        let ctx = service_ctx.clone();
        async move { Ok::<_, Infallible>(handler::handle(req, &ctx).await) }
    });
    match ctx.port {
        Port::Http => {
            // HTTP/1.x only, like Go's plaintext server without h2c.
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).max_headers(MAX_HEADERS);
            let conn = builder.serve_connection(io, service).with_upgrades();
            until_reset(conn, &ctx).await;
        }
        Port::H2c | Port::Https => {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).max_headers(MAX_HEADERS);
            builder.http2().timer(TokioTimer::new());
            until_reset(builder.serve_connection_with_upgrades(io, service), &ctx).await;
        }
    }
}

/// Drives `conn` until it ends or a handler asks for a reset; dropping it closes the socket.
async fn until_reset(conn: impl Future, ctx: &ConnCtx) {
    tokio::select! {
        _ = conn => {}
        _ = ctx.reset.requested.notified() => {}
    }
}

/// An echo server on 127.0.0.1 for namespace `default`, without TLS, naming itself `pod` of
/// `service`.
pub async fn start_local(pod: &str, service: &str) -> EchoHandle {
    start(EchoConfig {
        namespace: "default".into(),
        pod: pod.into(),
        service: service.into(),
        bind_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: None,
    })
    .await
    .expect("start echo")
}
