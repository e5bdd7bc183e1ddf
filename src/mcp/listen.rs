//! `subscriptions/listen` (2026-07-28): a stateless client's long-lived SSE answer carrying the
//! notifications it opted in to. Sluice honors the list changes (`toolsListChanged`,
//! `promptsListChanged`, `resourcesListChanged`) of the route's targets; resource
//! subscriptions are not offered (omitted from the acknowledgment, as the era specifies for
//! types a server does not support). The stream opens with
//! `notifications/subscriptions/acknowledged`; every frame carries
//! `_meta["io.modelcontextprotocol/subscriptionId"]`, the listen request's id. It ends when the
//! client goes away (no replay: a client that listens again refetches).

use std::sync::Mutex;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::jsonrpc::RpcError;
use super::stream_peer::event;

pub const SUBSCRIPTION_META: &str = "io.modelcontextprotocol/subscriptionId";
/// Listeners at most, per process.
pub const MAX_LISTENERS: usize = 10_000;

/// The list-change types Sluice honors: the filter's key and the notification's method.
const HONORED: [(&str, &str); 3] = [
    ("toolsListChanged", "notifications/tools/list_changed"),
    ("promptsListChanged", "notifications/prompts/list_changed"),
    ("resourcesListChanged", "notifications/resources/list_changed"),
];

struct Listener {
    /// The route's backend keys.
    owner: String,
    /// The listen request's id.
    id: Value,
    /// The notification methods it takes.
    methods: Vec<&'static str>,
    stream: mpsc::Sender<Bytes>,
}

/// The open listen streams of this process.
#[derive(Default)]
pub struct Listeners {
    open: Mutex<Vec<Listener>>,
}

impl Listeners {
    /// Opens a stream for the listen request `id` with `params`; the acknowledgment goes first.
    pub fn listen(
        &self,
        owner: &str,
        id: &Value,
        params: Option<&Map<String, Value>>,
    ) -> Result<mpsc::Receiver<Bytes>, RpcError> {
        let Some(asked) = params.and_then(|p| p.get("notifications")).and_then(Value::as_object) else {
            return Err(RpcError::invalid_params("subscriptions/listen needs params.notifications (an object)"));
        };
        let mut honored = Map::new();
        let mut methods = Vec::new();
        for (key, method) in HONORED {
            if asked.get(key) == Some(&Value::Bool(true)) {
                honored.insert(key.to_string(), Value::Bool(true));
                methods.push(method);
            }
        }
        let (tx, rx) = mpsc::channel(256);
        let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": honored, "_meta": {SUBSCRIPTION_META: id}}});
        let _ = tx.try_send(event(&ack));
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|l| !l.stream.is_closed());
        if open.len() >= MAX_LISTENERS {
            return Err(RpcError::new(super::jsonrpc::INTERNAL_ERROR, "too many listeners; try again later"));
        }
        open.push(Listener { owner: owner.to_string(), id: id.clone(), methods, stream: tx });
        Ok(rx)
    }

    /// Sends a list change of a target of `backend` to every listener that asked for it.
    pub fn notify(&self, backend: &str, method: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|l| !l.stream.is_closed());
        for l in open.iter().filter(|l| l.methods.contains(&method) && l.owner.split(',').any(|k| k == backend)) {
            let frame = json!({"jsonrpc": "2.0", "method": method, "params": {"_meta": {SUBSCRIPTION_META: l.id}}});
            let _ = l.stream.try_send(event(&frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledges_what_it_honors_and_stamps_every_frame() {
        let listeners = Listeners::default();
        let params = json!({"notifications": {"toolsListChanged": true, "promptsListChanged": false,
            "resourceSubscriptions": ["file:///x"]}});
        let mut rx = listeners.listen("default/tools", &json!("listen-1"), params.as_object()).expect("open");
        let ack = String::from_utf8(rx.try_recv().expect("ack").to_vec()).expect("utf-8");
        assert!(ack.contains(r#""notifications":{"toolsListChanged":true}"#), "{ack}");
        assert!(ack.contains(r#""io.modelcontextprotocol/subscriptionId":"listen-1""#), "{ack}");
        listeners.notify("default/tools", "notifications/prompts/list_changed");
        listeners.notify("default/other", "notifications/tools/list_changed");
        assert!(rx.try_recv().is_err(), "not asked for, or another route's");
        listeners.notify("default/tools", "notifications/tools/list_changed");
        let frame = String::from_utf8(rx.try_recv().expect("frame").to_vec()).expect("utf-8");
        assert!(frame.contains("tools/list_changed") && frame.contains("listen-1"), "{frame}");
        assert!(listeners.listen("o", &json!(1), None).is_err());
    }
}
