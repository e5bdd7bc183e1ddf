//! A body watched on its way out: at its end, or when it is dropped before (failed, or abandoned
//! by the client), a callback learns when its first data frame went, how many bytes went and whether it
//! ended. Metrics and the access log read a streamed answer's timings from it; a body nobody
//! watches is never wrapped.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::body::{BoxError, ProxyBody};

/// What a watched body did.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    /// When the first non-empty data frame was handed on.
    pub first_data: Option<Instant>,
    /// Data bytes handed on.
    pub bytes: u64,
    /// The body reached its end (not cut by an error or by the client going away).
    pub complete: bool,
    /// When the body ended, or was let go before: its error, or the client going away.
    pub done: Instant,
}

/// Called once, at the watched body's end or when it is dropped before.
pub type OnSeen = Box<dyn FnOnce(Seen) + Send>;

/// As [`OnSeen`], with the body's last bytes too.
pub type OnTail = Box<dyn FnOnce(Seen, &[u8]) + Send>;

enum Report {
    Seen(OnSeen),
    Tail(OnTail),
}

struct Observed {
    inner: ProxyBody,
    first_data: Option<Instant>,
    bytes: u64,
    complete: bool,
    on_seen: Option<Report>,
    /// The last `keep` bytes, when the callback reads them.
    tail: Vec<u8>,
    keep: usize,
}

impl Body for Observed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !data.is_empty()
                {
                    this.first_data.get_or_insert_with(Instant::now);
                    this.bytes += data.len() as u64;
                    if this.keep > 0 {
                        let data = &data[data.len().saturating_sub(this.keep)..];
                        this.tail.extend_from_slice(data);
                        let over = this.tail.len().saturating_sub(this.keep);
                        this.tail.drain(..over);
                    }
                }
                if this.inner.is_end_stream() {
                    this.complete = true;
                }
            }
            Poll::Ready(None) => this.complete = true,
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        // Reported at the end, before the body is let go: a watcher outside this one (which
        // sees the end after it) then learns what this one's callback recorded.
        if this.complete {
            this.report();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.report();
    }
}

impl Observed {
    /// Calls the callback, once: at the body's end, else when it is dropped.
    fn report(&mut self) {
        if let Some(on_seen) = self.on_seen.take() {
            let complete = self.complete || self.inner.is_end_stream();
            let seen = Seen { first_data: self.first_data, bytes: self.bytes, complete, done: Instant::now() };
            match on_seen {
                Report::Seen(f) => f(seen),
                Report::Tail(f) => f(seen, &self.tail),
            }
        }
    }
}

/// `body`, with `on_seen` called once at its end (or when dropped before).
pub fn watch(body: ProxyBody, on_seen: OnSeen) -> ProxyBody {
    observed(body, Report::Seen(on_seen), 0)
}

/// `body`, with `on_tail` called as [`watch`]'s callback is, with the last `keep` bytes sent (a
/// summary a provider writes at the end of its answer, read without holding the answer back).
pub fn watch_tail(body: ProxyBody, keep: usize, on_tail: OnTail) -> ProxyBody {
    observed(body, Report::Tail(on_tail), keep)
}

fn observed(inner: ProxyBody, report: Report, keep: usize) -> ProxyBody {
    let tail = Vec::with_capacity(keep);
    Observed { inner, first_data: None, bytes: 0, complete: false, on_seen: Some(report), tail, keep }.boxed_unsync()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures_util::StreamExt;

    use super::*;
    use crate::httpkit::body;

    fn catch() -> (Arc<Mutex<Option<Seen>>>, OnSeen) {
        let slot = Arc::new(Mutex::new(None));
        let to = slot.clone();
        (slot, Box::new(move |s| *to.lock().unwrap() = Some(s)))
    }

    #[tokio::test]
    async fn a_body_read_whole_reports_its_bytes_and_end() {
        let (slot, on_seen) = catch();
        let watched = watch(body::full("hello world"), on_seen);
        let bytes = watched.collect().await.expect("body").to_bytes();
        assert_eq!(bytes.len(), 11);
        let seen = slot.lock().unwrap().expect("reported once dropped");
        assert_eq!(seen.bytes, 11);
        assert!(seen.complete);
        assert!(seen.first_data.is_some_and(|t| t <= seen.done));
    }

    #[tokio::test]
    async fn a_body_abandoned_before_its_end_reports_it_was_cut() {
        // One frame, then a peer that sends nothing more.
        let frames = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"abc")))])
            .chain(futures_util::stream::pending());
        let inner = http_body_util::StreamBody::new(frames).boxed_unsync();
        let (slot, on_seen) = catch();
        let mut watched = watch(inner, on_seen);
        let first = watched.frame().await.expect("a frame").expect("data");
        assert_eq!(first.data_ref().map(Bytes::len), Some(3));
        assert!(slot.lock().unwrap().is_none(), "nothing is reported while the body lives");
        drop(watched);
        let seen = slot.lock().unwrap().expect("reported on drop");
        assert_eq!((seen.bytes, seen.complete), (3, false));
    }

    #[tokio::test]
    async fn the_tail_is_the_last_bytes_across_frames() {
        let frames = ["{\"data\": [1, 2, 3]", ", \"usage\": ", "{\"prompt_tokens\": 8}}"]
            .map(|f| Ok::<_, BoxError>(Frame::data(Bytes::from_static(f.as_bytes()))));
        let inner = http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
        let slot = Arc::new(Mutex::new(None));
        let to = slot.clone();
        let watched =
            watch_tail(inner, 24, Box::new(move |seen, tail| *to.lock().unwrap() = Some((seen, tail.to_vec()))));
        let whole = watched.collect().await.expect("body").to_bytes();
        assert_eq!(whole.len(), 50, "the body goes on untouched");
        let (seen, tail) = slot.lock().unwrap().take().expect("reported");
        assert!(seen.complete);
        assert_eq!(tail, b"\": {\"prompt_tokens\": 8}}");
    }
}
