//! The answer to a request head that does not arrive in time. hyper's header-read timeout ends
//! the connection without a word; a client that sent part of a request deserves `408 Request
//! Timeout` (RFC 9110 §15.5.9). The connection's IO is shared between hyper and the listener
//! ([`Reclaimable`]) so that, once hyper gave up on a head, the listener can still write the
//! 408, when bytes of a request came since the last answer. An idle keep-alive connection is
//! closed without one.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Written to a client whose request head did not arrive in time.
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-type: text/plain\r\n\
    content-length: 40\r\n\r\nthe request head did not arrive in time\n";

/// How long writing the 408 may take.
const WRITE_WITHIN: Duration = Duration::from_secs(1);

struct Inner<I> {
    io: I,
    /// Bytes of a request came since the last answer was written.
    partial: bool,
    /// Any byte came on the connection.
    started: bool,
}

/// A connection's IO, shared between hyper and the listener.
pub struct Reclaimable<I>(Arc<Mutex<Inner<I>>>);

impl<I> Clone for Reclaimable<I> {
    fn clone(&self) -> Self {
        Reclaimable(self.0.clone())
    }
}

impl<I> Reclaimable<I> {
    pub fn new(io: I) -> Self {
        Reclaimable(Arc::new(Mutex::new(Inner { io, partial: false, started: false })))
    }

    /// Whether the client has sent anything yet.
    pub fn started(&self) -> bool {
        self.lock().started
    }

    fn lock(&self) -> MutexGuard<'_, Inner<I>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<I: AsyncWrite + Unpin> Reclaimable<I> {
    /// After hyper's header-read timeout: the 408, when part of a request came; `true` when it
    /// was written.
    pub async fn answer_timeout(&self) -> bool {
        if !self.lock().partial {
            return false;
        }
        let write = async {
            let mut written = 0;
            while written < REQUEST_TIMEOUT.len() {
                let n = std::future::poll_fn(|cx| {
                    Pin::new(&mut self.lock().io).poll_write(cx, &REQUEST_TIMEOUT[written..])
                })
                .await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                written += n;
            }
            std::future::poll_fn(|cx| Pin::new(&mut self.lock().io).poll_shutdown(cx)).await
        };
        matches!(tokio::time::timeout(WRITE_WITHIN, write).await, Ok(Ok(())))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Reclaimable<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut g = self.lock();
        let before = buf.filled().len();
        let r = Pin::new(&mut g.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            g.partial = true;
            g.started = true;
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Reclaimable<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut g = self.lock();
        g.partial = false;
        Pin::new(&mut g.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut g = self.lock();
        g.partial = false;
        Pin::new(&mut g.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lock().io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().io).poll_shutdown(cx)
    }
}

/// Whether a connection ended on hyper's header-read timeout.
pub fn is_head_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn answers_only_a_partial_request() {
        let (mut client, server) = tokio::io::duplex(4096);
        let io = Reclaimable::new(server);
        let mut hyper_side = io.clone();
        // Idle: nothing came, nothing is answered.
        assert!(!io.answer_timeout().await);
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        let mut buf = [0u8; 64];
        let n = hyper_side.read(&mut buf).await.expect("read");
        assert!(n > 0);
        assert!(io.answer_timeout().await);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read the answer");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{text}");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.len());
        assert_eq!(body, Some(40), "content-length matches the body");
    }

    #[tokio::test]
    async fn an_answer_written_ends_the_partial_request() {
        let (mut client, server) = tokio::io::duplex(4096);
        let io = Reclaimable::new(server);
        let mut hyper_side = io.clone();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 64];
        let _ = hyper_side.read(&mut buf).await.expect("read");
        hyper_side.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.expect("answer");
        assert!(!io.answer_timeout().await, "an idle keep-alive connection is closed without a 408");
    }
}
