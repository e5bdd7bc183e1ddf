//! The downstream end of a call in the session era: an SSE stream to the client (the POST's
//! own answer in streamable HTTP, the session's stream in legacy HTTP+SSE). The target's
//! requests go down it as JSON-RPC requests with ids Sluice assigns (`sluice-<n>`); the client
//! POSTs its answers within the session and [`Session::answer`] hands them back. Progress
//! notifications carry the client's own progress token (none given: not sent). Between calls,
//! the target's messages go down the session's GET stream ([`SessionPeer`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::jsonrpc::{INTERNAL_ERROR, RpcError};
use super::session::Session;
use super::upstream::BoxFuture;
use super::upstream::relay::ClientPeer;
use crate::httpkit::sse;

/// Ids of relayed requests, unique within the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The methods whose calls may take server requests.
pub fn interactive(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// Whether a request is a call whose target's requests and notifications go to its client:
/// one that may take them, from a client that answers server requests or asked for progress.
pub fn relays(method: &str, takes_requests: bool, params: Option<&Map<String, Value>>) -> bool {
    interactive(method) && (takes_requests || progress_token(params).is_some())
}

/// The client's progress token of a request (`params._meta.progressToken`).
pub fn progress_token(params: Option<&Map<String, Value>>) -> Option<Value> {
    params?.get("_meta")?.get("progressToken").filter(|t| t.is_string() || t.is_number()).cloned()
}

/// One SSE `message` event.
pub fn event(payload: &Value) -> Bytes {
    sse::event(Some("message"), None, &payload.to_string())
}

pub struct StreamPeer {
    pub stream: mpsc::Sender<Bytes>,
    pub session: Arc<Session>,
    pub progress_token: Option<Value>,
    /// Where the target's messages go after the call.
    pub background: Option<Arc<dyn ClientPeer>>,
}

/// Sends `message` (a relayed request) by `send` and waits for the client's answer.
fn ask(
    session: &Session,
    method: &str,
    params: Value,
    send: impl FnOnce(Value) -> BoxFuture<'static, bool> + Send + 'static,
) -> BoxFuture<'static, Result<Value, RpcError>> {
    let id = json!(format!("sluice-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)));
    let answer = session.expect(&id);
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let method = method.to_string();
    Box::pin(async move {
        let gone = || RpcError::new(INTERNAL_ERROR, format!("{method}: the client went away before answering"));
        if !send(message).await {
            return Err(gone());
        }
        answer.await.map_err(|_| gone())?
    })
}

/// A session's GET stream (session era) as the client between calls.
pub struct SessionPeer {
    pub session: Arc<Session>,
}

impl ClientPeer for SessionPeer {
    fn affinity(&self) -> &str {
        &self.session.id
    }

    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        if !self.session.has_stream() {
            let e = RpcError::new(INTERNAL_ERROR, format!("{method}: the client has no stream open to take it"));
            return Box::pin(std::future::ready(Err(e)));
        }
        let session = self.session.clone();
        ask(&self.session, method, params, move |message| {
            Box::pin(async move {
                session.push(&message);
                true
            })
        })
    }

    /// Progress belongs to calls: none is sent here.
    fn notify(&self, method: &str, params: Value) {
        if method != "notifications/progress" {
            self.session.push(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
        }
    }
}

impl ClientPeer for StreamPeer {
    fn affinity(&self) -> &str {
        &self.session.id
    }

    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        let stream = self.stream.clone();
        ask(&self.session, method, params, move |message| {
            Box::pin(async move { stream.send(event(&message)).await.is_ok() })
        })
    }

    fn background(&self) -> Option<Arc<dyn ClientPeer>> {
        self.background.clone()
    }

    fn notify(&self, method: &str, mut params: Value) {
        if method == "notifications/progress" {
            let Some(token) = &self.progress_token else { return };
            // A target's progress without an object of params is not progress: dropped.
            let Some(p) = super::jsonrpc::params_object(&mut params) else { return };
            p.insert("progressToken".into(), token.clone());
        }
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        // A client too slow to take notifications misses some rather than stalling the target.
        let _ = self.stream.try_send(event(&message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target's progress whose `params` is not an object (once indexed as one: a panic) is
    /// dropped; an object gets the client's progress token.
    #[tokio::test]
    async fn progress_without_an_object_of_params_is_dropped() {
        let (tx, mut rx) = mpsc::channel(8);
        let peer = StreamPeer {
            stream: tx,
            session: Session::detached("default/tools", "2025-06-18"),
            progress_token: Some(json!("tok")),
            background: None,
        };
        for odd in [json!([1, 2]), json!("50%"), json!(7), json!(true)] {
            peer.notify("notifications/progress", odd);
        }
        assert!(rx.try_recv().is_err(), "nothing sent for params that are not an object");
        peer.notify("notifications/progress", json!({"progress": 1, "total": 2}));
        let sent = rx.try_recv().expect("the progress went down");
        let text = String::from_utf8_lossy(&sent);
        assert!(text.contains(r#""progressToken":"tok""#), "{text}");
    }
}
