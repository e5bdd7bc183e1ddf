//! TLS passthrough: read the ClientHello to learn the SNI, pick the TLSRoute and a backend, then
//! splice the untouched bytes both ways. The TLS session is between client and backend.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::handler::Shared;
use crate::httpkit::{deadline, weighted};
use crate::ir::{BackendTarget, BindKey};

/// A ClientHello larger than this is refused.
const MAX_HELLO: usize = 64 * 1024;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(mut stream: TcpStream, bind: BindKey, shared: Arc<Shared>) {
    let timed_out = |_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the ClientHello timed out");
    let (hello, sni) = match deadline::within(HELLO_TIMEOUT, read_client_hello(&mut stream), timed_out).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, %bind, "TLS passthrough: no usable ClientHello");
            return;
        }
    };
    // The snapshot is read once, for this connection's whole life.
    let snapshot = shared.snapshot.load_full();
    let Some(route) = snapshot.port(&bind).and_then(|p| p.listener_for(&sni)).and_then(|l| l.passthrough_for(&sni))
    else {
        tracing::debug!(%bind, sni, "TLS passthrough: no route for this server name");
        return;
    };
    let Some(backend) = weighted::pick(&route.backends, |b| b.weight) else { return };
    let BackendTarget::Upstream(upstream) = &backend.target else {
        tracing::debug!(backend = %backend.name, "TLS passthrough: backend is invalid");
        return;
    };
    let Some(endpoint) = upstream.pick() else {
        shared.metrics.record_upstream_error(&backend.name, "no_endpoints");
        return;
    };
    let connect = super::upstream::io::connect_tcp(endpoint);
    let timed_out = |_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
    let mut up = match deadline::within(CONNECT_TIMEOUT, connect, timed_out).await {
        Ok(s) => s,
        Err(_) => {
            shared.metrics.record_upstream_error(&backend.name, "connect");
            return;
        }
    };
    let _ = up.set_nodelay(true);
    if up.write_all(&hello).await.is_err() {
        return;
    }
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut up).await {
        tracing::debug!(error = %e, "TLS passthrough connection ended");
    }
}

/// Reads until a whole ClientHello has arrived; returns the bytes read and the SNI.
async fn read_client_hello(stream: &mut TcpStream) -> io::Result<(Vec<u8>, String)> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the ClientHello"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HELLO {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "ClientHello too large"));
        }
        acceptor.read_tls(&mut &chunk[..n])?;
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let sni = accepted.client_hello().server_name().unwrap_or("").to_ascii_lowercase();
                return Ok((buf, sni));
            }
            Ok(None) => continue,
            Err((e, _alert)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }
}
