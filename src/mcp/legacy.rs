//! The legacy HTTP+SSE transport (protocol 2024-11-05) for old clients, on the same route path
//! as streamable HTTP:
//! - `GET` without `Mcp-Session-Id`, accepting `text/event-stream`, opens a session and its
//!   event stream, whose first event (`endpoint`) names where to POST: the same path with
//!   `?session_id=<id>`;
//! - `POST ?session_id=<id>` takes one JSON-RPC message and answers `202 Accepted`; the
//!   JSON-RPC response goes down the session's stream as a `message` event.
//!
//! Messages are handled in a task of their own, after the 202: a call may send the target's
//! requests (sampling, elicitation, roots) down the stream, and the client answers them in
//! later POSTs, which must not wait behind the call.
//!
//! The session ends when its stream closes (the client went away): the next POST for it gets
//! 404. Malformed messages are answered on the POST itself (400 with a JSON-RPC error), as
//! streamable HTTP does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use tokio::sync::mpsc;

use super::Ctx;
use super::http::{initialize_result, read_limited, request, rpc_status, unknown_session};
use super::jsonrpc::{self, Message};
use super::session::MAX_SESSIONS;
use super::stream_peer::{self, StreamPeer};
use super::upstream::relay::ClientPeer;
use crate::httpkit::body::{BoxError, ProxyBody};
use crate::httpkit::sse;

/// The query parameter of the message endpoint.
pub const SESSION_PARAM: &str = "session_id";
/// Events a slow client may have pending before its stream counts as gone.
pub(super) const QUEUE: usize = 64;
/// A comment line goes down an idle stream this often, so that clients and proxies with an
/// idle-read timeout keep it open (the Python SDK gives up after 300 s of silence).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The open event streams, by session id.
#[derive(Default)]
pub struct Streams {
    map: Mutex<HashMap<String, mpsc::Sender<Bytes>>>,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Bytes>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a notification down the session's stream, if it has one (missed if it is full).
    pub fn notify(&self, id: &str, message: &Value) {
        if let Some(stream) = self.lock().get(id) {
            let _ = stream.try_send(stream_peer::event(message));
        }
    }

    fn sender(&self, id: &str) -> Option<mpsc::Sender<Bytes>> {
        let mut map = self.lock();
        match map.get(id) {
            Some(s) if s.is_closed() => {
                map.remove(id);
                None
            }
            other => other.cloned(),
        }
    }
}

/// The session of a legacy message POST (`?session_id=`), if it is one.
pub fn session_param(parts: &Parts) -> Option<&str> {
    parts.uri.query()?.split('&').find_map(|kv| kv.strip_prefix(SESSION_PARAM)?.strip_prefix('='))
}

fn event(name: &str, data: &str) -> Bytes {
    sse::event(Some(name), None, data)
}

/// `GET`: a new session and its stream.
pub fn open(ctx: &Ctx, parts: &Parts) -> Response<ProxyBody> {
    let Some(session) = ctx.state.sessions.create((&ctx.owner, &ctx.client), "2024-11-05", false, ctx.session_key())
    else {
        let e =
            super::jsonrpc::RpcError::new(jsonrpc::INTERNAL_ERROR, "too many MCP sessions are open; try again later");
        return rpc_status(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &e);
    };
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let endpoint = format!("{}?{SESSION_PARAM}={}", parts.uri.path(), session.id);
    // The channel has room: the endpoint event goes first.
    let _ = tx.try_send(event("endpoint", &endpoint));
    {
        let mut map = ctx.state.legacy.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| !s.is_closed());
        }
        map.insert(session.id.clone(), tx);
    }
    let ends = EndsSession { ctx: ctx.clone(), id: session.id.clone() };
    let stream = with_keep_alive(rx, KEEP_ALIVE).map(move |b| {
        let _ends = &ends;
        b
    });
    sse_answer(stream)
}

/// The legacy session of a GET stream, ended when the stream goes (the client closed it): a
/// legacy session lives as long as its stream, not until it has been idle long enough.
struct EndsSession {
    ctx: Ctx,
    id: String,
}

impl Drop for EndsSession {
    fn drop(&mut self) {
        self.ctx.state.legacy.lock().remove(&self.id);
        self.ctx.state.sessions.remove(&self.id, &self.ctx.owner, self.ctx.session_key());
    }
}

/// An SSE answer carrying what goes down `rx`, with keep-alive comments while idle.
pub(super) fn event_stream(rx: mpsc::Receiver<Bytes>) -> Response<ProxyBody> {
    sse_answer(with_keep_alive(rx, KEEP_ALIVE))
}

fn sse_answer(events: impl futures_util::Stream<Item = Bytes> + Send + 'static) -> Response<ProxyBody> {
    let stream = events.map(|b| Ok::<_, BoxError>(Frame::data(b)));
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The events of `rx`, and a `: keep-alive` comment after every `period` without one; ends
/// when the sending side is gone.
fn with_keep_alive(
    mut rx: mpsc::Receiver<Bytes>,
    period: std::time::Duration,
) -> impl futures_util::Stream<Item = Bytes> + Send {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures_util::stream::poll_fn(move |cx| {
        if let std::task::Poll::Ready(item) = rx.poll_recv(cx) {
            if item.is_some() {
                tick.reset();
            }
            return std::task::Poll::Ready(item);
        }
        match tick.poll_tick(cx) {
            std::task::Poll::Ready(_) => std::task::Poll::Ready(Some(Bytes::from_static(b": keep-alive\n\n"))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
}

/// `POST ?session_id=`: one message of a legacy session.
pub async fn message(ctx: &Ctx, id: &str, incoming: Incoming) -> Response<ProxyBody> {
    let Some(session) = ctx.state.sessions.get(id, (&ctx.owner, &ctx.client), ctx.session_key()) else {
        return rpc_status(StatusCode::NOT_FOUND, &Value::Null, &unknown_session());
    };
    let Some(stream) = ctx.state.legacy.sender(id) else {
        // The stream is gone: so is the session.
        ctx.state.sessions.remove(id, &ctx.owner, ctx.session_key());
        return rpc_status(StatusCode::NOT_FOUND, &Value::Null, &unknown_session());
    };
    let bytes = match read_limited(incoming).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (rid, method, params) = match jsonrpc::parse(&bytes) {
        Err(rejected) => return rpc_status(StatusCode::BAD_REQUEST, &rejected.id, &rejected.error),
        Ok(Message::Notification { method, params }) => {
            if method == "notifications/cancelled" {
                session.cancel_request(params.as_ref());
            }
            return accepted();
        }
        Ok(Message::Response { id, outcome }) => {
            session.answer(&id, outcome);
            return accepted();
        }
        Ok(Message::Request { id, method, params }) => (id, method, params),
    };
    let ctx = ctx.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let payload = if method == "initialize" {
            let caps = params.as_ref().and_then(|p| p.get("capabilities"));
            session.set_takes_requests(super::session::declares_requests(caps));
            let seen = super::observed::Observed::begin(&ctx, "initialize", params.as_ref());
            let out = seen.run(initialize_result(&ctx, params.as_ref())).await;
            seen.end(&ctx, None, out.as_ref().err());
            match out {
                Ok((_, result)) => jsonrpc::result(&rid, result),
                Err(e) => jsonrpc::error(&rid, &e),
            }
        } else {
            let relays = stream_peer::relays(&method, session.takes_requests(), params.as_ref());
            let client = relays.then(|| {
                let progress_token = stream_peer::progress_token(params.as_ref());
                // Between calls, the same stream (without progress: that belongs to calls).
                let background = StreamPeer {
                    stream: stream.clone(),
                    session: session.clone(),
                    progress_token: None,
                    background: None,
                };
                let background = Some(Arc::new(background) as Arc<dyn ClientPeer>);
                Arc::new(StreamPeer { stream: stream.clone(), session: session.clone(), progress_token, background })
                    as Arc<dyn ClientPeer>
            });
            match session.cancellable(&rid, request(&ctx, &session, &method, params, client)).await {
                Some(Ok(result)) => jsonrpc::result(&rid, result),
                Some(Err(e)) => jsonrpc::error(&rid, &e),
                // Cancelled: the call is dropped (the target is told); no response is sent.
                None => return,
            }
        };
        if stream.send(stream_peer::event(&payload)).await.is_err() {
            // The client went away: so did its session.
            ctx.state.sessions.remove(&id, &ctx.owner, ctx.session_key());
        }
    });
    accepted()
}

fn accepted() -> Response<ProxyBody> {
    let mut resp = Response::new(crate::httpkit::body::full("Accepted"));
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    #[tokio::test]
    async fn idle_streams_get_keep_alive_comments_and_end_with_their_sender() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut s = Box::pin(super::with_keep_alive(rx, std::time::Duration::from_millis(20)));
        tx.send(bytes::Bytes::from_static(b"event: endpoint\ndata: /mcp\n\n")).await.expect("send");
        assert_eq!(s.next().await.as_deref(), Some(&b"event: endpoint\ndata: /mcp\n\n"[..]));
        let idle = tokio::time::timeout(std::time::Duration::from_secs(2), s.next()).await.expect("in time");
        assert_eq!(idle.as_deref(), Some(&b": keep-alive\n\n"[..]));
        drop(tx);
        assert_eq!(tokio::time::timeout(std::time::Duration::from_secs(2), s.next()).await.expect("ends"), None);
    }

    #[test]
    fn the_session_comes_from_the_query() {
        let parts = |uri: &str| http::Request::post(uri).body(()).expect("request").into_parts().0;
        assert_eq!(super::session_param(&parts("/mcp?session_id=s1.abc")), Some("s1.abc"));
        assert_eq!(super::session_param(&parts("/mcp?x=1&session_id=42")), Some("42"));
        assert_eq!(super::session_param(&parts("/mcp")), None);
        assert_eq!(super::session_param(&parts("/mcp?session=1")), None);
    }
}
