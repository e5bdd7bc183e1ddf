//! A transport wrapper that hands the target's notifications to the session's [`Relay`] as it
//! reads them, in the order the target sent them, before rmcp sees the next message. rmcp
//! handles each notification in a task of its own, so through its handler the last progress
//! step could trail the call's answer; read here, every notification a target sent before its
//! answer has reached the call's client by the time the answer is read. Ordering, not waiting.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;

use crate::mcp::upstream::relay::Relay;

/// The notifications relayed to the client; others (cancellations, rmcp's own) are rmcp's.
const RELAYED: [&str; 6] = [
    "notifications/progress",
    "notifications/message",
    "notifications/resources/updated",
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/prompts/list_changed",
];

pub(super) struct Ordered<T> {
    pub(super) inner: T,
    pub(super) relay: Arc<Relay>,
    /// Set once the transport has been closed (a stdio target's process ended).
    pub(super) closed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Ordered<T> {
    type Error = T::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await?;
        if let rmcp::model::JsonRpcMessage::Notification(n) = &message {
            relay(&self.relay, serde_json::to_value(&n.notification).unwrap_or_default());
        }
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let closing = self.inner.close();
        let closed = self.closed.clone();
        async move {
            let r = closing.await;
            closed.send_replace(true);
            r
        }
    }
}

/// Hands one notification (`{"method", "params"}`) to the relay, when it is one for the client.
fn relay(relay: &Relay, mut notification: Value) {
    let Some(method) = notification.get("method").and_then(Value::as_str).filter(|m| RELAYED.contains(m)) else {
        return;
    };
    let method = method.to_string();
    let params = match notification.get_mut("params").map(Value::take) {
        Some(p @ Value::Object(_)) => p,
        _ => serde_json::json!({}),
    };
    relay.notify(&method, params);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::mcp::jsonrpc::RpcError;
    use crate::mcp::upstream::BoxFuture;
    use crate::mcp::upstream::relay::ClientPeer;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ClientPeer for Recorder {
        fn affinity(&self) -> &str {
            ""
        }
        fn request(&self, method: &str, _: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
            crate::mcp::upstream::relay::unanswered(method)
        }
        fn notify(&self, method: &str, params: Value) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{method} {params}"));
        }
    }

    /// A transport that yields scripted messages, then nothing.
    struct Scripted(Vec<RxJsonRpcMessage<RoleClient>>);

    impl Transport<RoleClient> for Scripted {
        type Error = std::io::Error;
        fn send(
            &mut self,
            _: TxJsonRpcMessage<RoleClient>,
        ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
            std::future::ready(Ok(()))
        }
        fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
            let next = if self.0.is_empty() { None } else { Some(self.0.remove(0)) };
            std::future::ready(next)
        }
        fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
            std::future::ready(Ok(()))
        }
    }

    fn message(v: Value) -> RxJsonRpcMessage<RoleClient> {
        serde_json::from_value(v).expect("a server message")
    }

    #[tokio::test]
    async fn notifications_reach_the_client_before_the_answer_is_read() {
        let recorder = Arc::new(Recorder::default());
        let relay = Arc::new(Relay::default());
        relay.attach(recorder.clone());
        let mut t = Ordered {
            inner: Scripted(vec![
                message(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": 1, "progress": 1, "total": 2}})),
                message(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": 1, "progress": 2, "total": 2}})),
                message(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": 9}})),
                message(serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {"content": []}})),
            ]),
            relay,
            closed: Arc::default(),
        };
        let mut answer = None;
        while let Some(m) = t.receive().await {
            if matches!(m, rmcp::model::JsonRpcMessage::Response(_)) {
                // When the answer is read, every earlier notification has been relayed.
                answer = Some(recorder.0.lock().unwrap_or_else(|p| p.into_inner()).clone());
            }
        }
        let seen = answer.expect("the answer was read");
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].contains("\"progress\":1") && seen[1].contains("\"progress\":2"), "{seen:?}");
    }
}
