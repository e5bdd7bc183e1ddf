//! The benchmark upstream: a small hyper server that answers as cheaply as it can, so that the
//! proxies under test, not the upstream, dominate the CPU they share.
//!
//! Routes (any method):
//! - `/bytes/N`: N bytes (at most [`MAX_BODY`]), sliced from one shared buffer without copying;
//! - `/echo`: the request body, streamed back;
//! - `/sse?chunks=N&interval_ms=M&size=B`: an SSE stream of N events of about B bytes, M ms apart;
//! - `POST /v1/chat/completions`: a fake OpenAI provider (see [`chat`]);
//! - `POST /v1/messages`: a fake Anthropic provider (see [`chat`]);
//! - anything else: the default body size.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};

pub mod chat;
pub mod mcp;

/// The largest fixed body served.
pub const MAX_BODY: usize = 16 << 20;

/// One buffer every fixed body is sliced from.
pub fn body_buffer() -> Bytes {
    Bytes::from(vec![b'x'; MAX_BODY])
}

/// The response body of every route.
pub enum UpBody {
    Full(Option<Bytes>),
    Echo(Incoming),
    Sse(SseBody),
    Chat(chat::ChatStream),
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            UpBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpBody::Echo(inc) => Pin::new(inc).poll_frame(cx),
            UpBody::Sse(s) => s.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            UpBody::Chat(s) => s.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpBody::Full(b) => b.is_none(),
            UpBody::Echo(inc) => inc.is_end_stream(),
            UpBody::Sse(s) => s.left == 0,
            UpBody::Chat(s) => s.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            UpBody::Echo(inc) => inc.size_hint(),
            UpBody::Sse(_) | UpBody::Chat(_) => SizeHint::default(),
        }
    }
}

/// N server-sent events, the first at once and then one every interval.
pub struct SseBody {
    left: usize,
    sent: usize,
    size: usize,
    interval: Option<tokio::time::Interval>,
}

impl SseBody {
    pub fn new(chunks: usize, interval: Duration, size: usize) -> Self {
        let interval = (!interval.is_zero()).then(|| {
            let mut i = tokio::time::interval(interval);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        SseBody { left: chunks, sent: 0, size, interval }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if let Some(i) = &mut self.interval
            && i.poll_tick(cx).is_pending()
        {
            return Poll::Pending;
        }
        self.left -= 1;
        self.sent += 1;
        let head = format!("id: {}\ndata: ", self.sent);
        let pad = self.size.saturating_sub(head.len() + 2).max(1);
        let mut ev = Vec::with_capacity(head.len() + pad + 2);
        ev.extend_from_slice(head.as_bytes());
        ev.resize(head.len() + pad, b'x');
        ev.extend_from_slice(b"\n\n");
        Poll::Ready(Some(Bytes::from(ev)))
    }
}

pub fn query_param(query: &str, name: &str) -> Option<usize> {
    query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// Answers one request: the fake LLM providers (which read the request body) asynchronously,
/// everything else at once.
pub async fn respond_any(
    req: Request<Incoming>,
    buf: Bytes,
    default_size: usize,
    opts: chat::ChatOpts,
) -> Result<Response<UpBody>, Infallible> {
    if let Some(api) = chat::Api::of(&req) {
        return Ok(chat::respond(api, req, opts).await);
    }
    if mcp::is_mcp(req.uri().path()) {
        return Ok(mcp::respond(req).await);
    }
    if req.uri().path() == "/v1/traces" {
        return Ok(otlp_receiver(req).await);
    }
    respond(req, &buf, default_size)
}

/// An OTLP/HTTP receiver for the traced targets: the export is read whole and taken (an empty
/// protobuf answer, which is a full success).
async fn otlp_receiver(req: Request<Incoming>) -> Response<UpBody> {
    use http_body_util::BodyExt as _;
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(UpBody::Full(Some(Bytes::new())));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
    resp
}

/// Answers one request.
pub fn respond(req: Request<Incoming>, buf: &Bytes, default_size: usize) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path();
    if path == "/echo" {
        let ct = req.headers().get(header::CONTENT_TYPE).cloned();
        let mut resp = Response::new(UpBody::Echo(req.into_body()));
        if let Some(ct) = ct {
            resp.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return Ok(resp);
    }
    if path == "/sse" {
        let q = req.uri().query().unwrap_or("");
        let chunks = query_param(q, "chunks").unwrap_or(100);
        let interval = Duration::from_millis(query_param(q, "interval_ms").unwrap_or(10) as u64);
        let size = query_param(q, "size").unwrap_or(64);
        let mut resp = Response::new(UpBody::Sse(SseBody::new(chunks, interval, size)));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(resp);
    }
    // P6's routes are `/r<i>/…`: the route prefix is not part of what is asked for.
    let path = match path.strip_prefix("/r") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.trim_start_matches(|c: char| c.is_ascii_digit())
        }
        _ => path,
    };
    let size = path.strip_prefix("/bytes/").and_then(|n| n.parse().ok()).unwrap_or(default_size).min(MAX_BODY);
    let mut resp = Response::new(UpBody::Full(Some(buf.slice(..size))));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(resp)
}
