//! What a target asks of the client during a call (sampling, elicitation, roots) and tells it
//! (progress, logging, list changes), relayed to the downstream client of that call.
//!
//! A target's request names no call it belongs to (over stdio nothing ties them), so a call
//! that can take such requests runs on a session of its own for its whole length (see
//! [`super::pool`]): whatever the target sends meanwhile belongs to that call. The session's
//! [`Relay`] points at the call's [`ClientPeer`] while it runs, and between calls at that
//! client's background channel (the session era's GET stream), if it has one. A session
//! shared by every client has only a background: list changes, told to every client.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::BoxFuture;
use crate::mcp::jsonrpc::{METHOD_NOT_FOUND, RpcError};

/// The downstream end of one call: how its client is reached, in its transport and era.
pub trait ClientPeer: Send + Sync {
    /// Who the client is (its session id; empty for stateless callers): a session held for a
    /// call is kept afterwards for this client's next one, so that what a target remembers per
    /// session (roots, log level) never passes from one client to another.
    fn affinity(&self) -> &str;
    /// A request from the target (`sampling/createMessage`, `elicitation/create`,
    /// `roots/list`); resolves to the client's result or error.
    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>>;
    /// A notification from the target (`notifications/progress`, `notifications/message`, …).
    fn notify(&self, method: &str, params: Value);
    /// Where the target's messages go between this client's calls.
    fn background(&self) -> Option<Arc<dyn ClientPeer>> {
        None
    }
}

/// The answer to a request no client can take: no roots, or for anything else an error saying so.
pub fn unanswered(method: &str) -> BoxFuture<'static, Result<Value, RpcError>> {
    let answer = if method == "roots/list" {
        Ok(serde_json::json!({"roots": []}))
    } else {
        Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("{method}: no client can answer (the caller takes no server requests over this call)"),
        ))
    };
    Box::pin(std::future::ready(answer))
}

/// The client a session's messages go to: set for the length of one call.
#[derive(Default)]
pub struct Relay {
    peers: Mutex<Peers>,
}

#[derive(Default)]
struct Peers {
    /// The client of the call under way.
    call: Option<Arc<dyn ClientPeer>>,
    /// Where messages go between calls.
    background: Option<Arc<dyn ClientPeer>>,
}

impl Relay {
    /// A relay whose messages go to `background` (a session shared by every client).
    pub fn with_background(background: Arc<dyn ClientPeer>) -> Relay {
        Relay { peers: Mutex::new(Peers { call: None, background: Some(background) }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Option<Arc<dyn ClientPeer>> {
        let peers = self.lock();
        peers.call.clone().or_else(|| peers.background.clone())
    }

    /// The client of a call; its background channel serves until the next call.
    pub fn attach(&self, client: Arc<dyn ClientPeer>) {
        let mut peers = self.lock();
        peers.background = client.background();
        peers.call = Some(client);
    }

    pub fn detach(&self) {
        self.lock().call = None;
    }

    /// Relays a request; with no client attached (a shared session, or between calls) the
    /// target is told that no client can answer it, or for roots that there are none.
    pub fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        match self.current() {
            Some(c) => c.request(method, params),
            None => unanswered(method),
        }
    }

    /// Relays a notification; dropped with no client attached.
    pub fn notify(&self, method: &str, params: Value) {
        if let Some(c) = self.current() {
            c.notify(method, params);
        }
    }
}
