//! An idle bound on a body read from a peer: when no frame has come for the bound, the body
//! ends with an error (the client's answer is cut, the peer's connection dropped) instead of
//! holding both connections forever. The timer is armed only while the body waits: a body whose
//! frames are ready when asked never touches it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::body::{BoxError, ProxyBody};

/// What a body that stopped coming ends with.
#[derive(Debug, thiserror::Error)]
#[error("no data from the peer for {0:?}: the body was given up")]
pub struct Idle(pub Duration);

struct IdleBody {
    inner: ProxyBody,
    idle: Duration,
    /// Armed at the first wait after a frame; `waiting` says whether it runs from that wait.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl Body for IdleBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let deadline = Instant::now() + this.idle;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.waiting {
                    timer.as_mut().reset(deadline);
                    this.waiting = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Idle(this.idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `body`, given up when no frame comes for `idle` (`None`: as it is).
pub fn bounded(body: ProxyBody, idle: Option<Duration>) -> ProxyBody {
    match idle {
        Some(idle) => IdleBody { inner: body, idle, timer: None, waiting: false }.boxed_unsync(),
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body whose frames come from a channel, as a slow peer sends them.
    fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, ProxyBody) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, BoxError>(Frame::data(b)), rx))
        });
        (tx, http_body_util::StreamBody::new(stream).boxed_unsync())
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_is_never_cut_and_one_that_stops_is() {
        let (tx, body) = channel_body();
        let mut body = bounded(body, Some(Duration::from_secs(10)));
        // A frame every 9 s for a minute: each wait is under the bound.
        for i in 0..7 {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(9)).await;
                let _ = tx.send(Bytes::from(format!("{i}"))).await;
            });
            let frame = body.frame().await.expect("a frame").expect("not cut");
            assert_eq!(frame.into_data().expect("data"), Bytes::from(format!("{i}")));
        }
        // Then nothing: cut 10 s after the last frame.
        let started = Instant::now();
        let e = body.frame().await.expect("an end").expect_err("cut");
        assert!(e.is::<Idle>(), "{e}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_bound_the_body_is_untouched() {
        let (tx, body) = channel_body();
        let mut body = bounded(body, None);
        let mut next = Box::pin(body.frame());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(futures_util::FutureExt::now_or_never(next.as_mut()).is_none(), "still waiting after an hour");
        tx.send(Bytes::from_static(b"late")).await.expect("send");
        let frame = next.await.expect("a frame").expect("not cut");
        assert_eq!(frame.into_data().expect("data"), Bytes::from_static(b"late"));
    }
}
