//! What a target asks of the client during a call (sampling, elicitation, roots) and tells it
//! (progress, logging, list changes), relayed to the downstream client of that call.
//!
//! A target's request names no call it belongs to (over stdio nothing ties them), so a call
//! that can take such requests runs on a session of its own for its whole length (see
//! [`super::pool`]): whatever the target sends meanwhile belongs to that call. The session's
//! [`Relay`] points at the call's [`ClientPeer`] while it runs, and at nobody between calls.

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
}

/// The client a session's messages go to: set for the length of one call.
#[derive(Default)]
pub struct Relay {
    client: Mutex<Option<Arc<dyn ClientPeer>>>,
}

impl Relay {
    fn current(&self) -> Option<Arc<dyn ClientPeer>> {
        self.client.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn attach(&self, client: Arc<dyn ClientPeer>) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    pub fn detach(&self) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Relays a request; with no client attached (a shared session, or between calls) the
    /// target is told that no client can answer it, or for roots that there are none.
    pub fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        match self.current() {
            Some(c) => c.request(method, params),
            None if method == "roots/list" => Box::pin(std::future::ready(Ok(serde_json::json!({"roots": []})))),
            None => {
                let e = RpcError::new(
                    METHOD_NOT_FOUND,
                    format!("{method}: no client can answer (the caller takes no server requests over this call)"),
                );
                Box::pin(std::future::ready(Err(e)))
            }
        }
    }

    /// Relays a notification; dropped with no client attached.
    pub fn notify(&self, method: &str, params: Value) {
        if let Some(c) = self.current() {
            c.notify(method, params);
        }
    }
}
