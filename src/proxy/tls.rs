//! Downstream TLS: the ClientHello's SNI picks the listener, whose prebuilt rustls config
//! (certificate, ALPN, client certificate validation) then completes the handshake.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::handler::Shared;
use crate::ir::BindKey;

/// Completes a TLS handshake; returns the stream and the name of the listener SNI selected.
pub async fn accept(stream: TcpStream, bind: &BindKey, shared: &Shared) -> Option<(TlsStream<TcpStream>, String)> {
    let start = match LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await {
        Ok(start) => start,
        Err(e) => {
            tracing::debug!(error = %e, "TLS ClientHello failed");
            return None;
        }
    };
    let sni = start.client_hello().server_name().unwrap_or("").to_ascii_lowercase();
    let snapshot = shared.snapshot.load_full();
    let port = snapshot.port(bind)?;
    let listener = port.listeners.iter().find(|l| l.tls.is_some() && l.matches_host(&sni))?;
    let config = listener.tls.as_ref()?.server_config.clone();
    let name = listener.name.clone();
    match start.into_stream(Arc::clone(&config)).await {
        Ok(s) => Some((s, name)),
        Err(e) => {
            tracing::debug!(error = %e, sni, "TLS handshake failed");
            None
        }
    }
}
