//! Upstream connections: TCP, optionally wrapped in TLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::httpkit::deadline;
use crate::ir::{Endpoint, UpstreamTls};

pub enum UpstreamIo {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpstreamIo {
    /// Whether ALPN settled on HTTP/2.
    pub fn is_h2(&self) -> bool {
        match self {
            UpstreamIo::Plain(_) => false,
            UpstreamIo::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

/// A TCP connection to one endpoint, without a deadline of its own.
pub async fn connect_tcp(endpoint: &Endpoint) -> io::Result<TcpStream> {
    match endpoint {
        Endpoint::Addr(addr) => TcpStream::connect(addr).await,
        Endpoint::Dns { host, port } => TcpStream::connect((host.as_str(), *port)).await,
    }
}

/// Opens a connection to one endpoint, with TLS when the backend asks for it.
pub async fn connect(endpoint: &Endpoint, tls: Option<&UpstreamTls>, timeout: Duration) -> io::Result<UpstreamIo> {
    let tcp = deadline::within(timeout, connect_tcp(endpoint), |_| {
        io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
    })
    .await?;
    tcp.set_nodelay(true)?;
    match tls {
        None => Ok(UpstreamIo::Plain(tcp)),
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let handshake = connector.connect(tls.server_name.clone(), tcp);
            let stream = deadline::within(timeout, handshake, |_| {
                io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
            })
            .await?;
            Ok(UpstreamIo::Tls(Box::new(stream)))
        }
    }
}

impl AsyncRead for UpstreamIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamIo::Plain(s) => s.is_write_vectored(),
            UpstreamIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
