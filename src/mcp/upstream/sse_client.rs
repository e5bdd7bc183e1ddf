//! Sessions with targets that speak the legacy HTTP+SSE transport (protocol 2024-11-05), which
//! rmcp has no client for: a GET opens the session's event stream, whose `endpoint` event names
//! the URL to POST messages to; every message from the target (answers, its own requests,
//! notifications) comes down the stream as a `message` event.
//!
//! Answers are matched to requests by id; the target's requests go to the session's [`Relay`]
//! and the client's answers are POSTed back; notifications go to the relay as they come. The
//! session is closed when the stream ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use eventsource_stream::Eventsource;
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::relay::Relay;
use super::{BoxFuture, ListKind, McpUpstream, Page, UpstreamError};

/// The protocol version this transport belongs to.
const VERSION: &str = "2024-11-05";

type Waiting = Mutex<HashMap<String, oneshot::Sender<Result<Value, UpstreamError>>>>;

struct Shared {
    http: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    /// Where messages are POSTed (from the `endpoint` event).
    endpoint: String,
    waiting: Waiting,
    closed: AtomicBool,
    next_id: AtomicU64,
}

pub struct SseSession {
    shared: Arc<Shared>,
    capabilities: Value,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for SseSession {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn unavailable(what: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(what.to_string())
}

/// Opens a session: the stream, the endpoint, then `initialize` and `notifications/initialized`.
pub async fn connect(
    http: reqwest::Client,
    url: &str,
    headers: reqwest::header::HeaderMap,
    relay: Arc<Relay>,
) -> Result<SseSession, UpstreamError> {
    let resp = http
        .get(url)
        .headers(headers.clone())
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| unavailable(format!("GET {url}: {}", super::with_causes(&e))))?;
    if !resp.status().is_success() {
        return Err(unavailable(format!("GET {url}: HTTP {}", resp.status())));
    }
    let mut events = Box::pin(crate::httpkit::sse_bounds::bounded(resp.bytes_stream())).eventsource();
    let endpoint = loop {
        match events.next().await {
            Some(Ok(ev)) if ev.event == "endpoint" => break ev.data,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(unavailable(format!("reading the event stream of {url}: {e}"))),
            None => return Err(unavailable(format!("{url} closed its event stream before naming an endpoint"))),
        }
    };
    let base = reqwest::Url::parse(url).map_err(|e| unavailable(format!("{url}: {e}")))?;
    let endpoint = base.join(endpoint.trim()).map_err(|e| unavailable(format!("endpoint {endpoint:?}: {e}")))?;
    if endpoint.origin() != base.origin() {
        return Err(unavailable(format!("{url} named an endpoint on another origin ({endpoint})")));
    }
    let shared = Arc::new(Shared {
        http,
        headers,
        endpoint: endpoint.to_string(),
        waiting: Mutex::new(HashMap::new()),
        closed: AtomicBool::new(false),
        next_id: AtomicU64::new(1),
    });
    let reader = tokio::spawn(read(shared.clone(), events, relay));
    let mut session = SseSession { shared, capabilities: json!({}), reader };
    let init = session
        .request(
            "initialize",
            json!({
                "protocolVersion": VERSION,
                "capabilities": super::client_capabilities(),
                "clientInfo": {"name": "sluice", "version": env!("CARGO_PKG_VERSION")},
            }),
        )
        .await?;
    session.capabilities = init.get("capabilities").cloned().unwrap_or_else(|| json!({}));
    session.shared.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
    Ok(session)
}

/// Reads the stream until it ends: answers to their callers, requests and notifications to
/// the relay.
async fn read<S>(shared: Arc<Shared>, mut events: S, relay: Arc<Relay>)
where
    S: futures_util::Stream<
            Item = Result<
                eventsource_stream::Event,
                eventsource_stream::EventStreamError<crate::httpkit::body::BoxError>,
            >,
        > + Unpin,
{
    while let Some(Ok(ev)) = events.next().await {
        if ev.event != "message" {
            continue;
        }
        let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(&ev.data) else {
            tracing::warn!("an SSE target sent a message that is not a JSON object");
            continue;
        };
        let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
        match (msg.get("id"), msg.get("method").and_then(Value::as_str)) {
            (Some(id), Some(method)) => {
                let (shared, relay, id, method) = (shared.clone(), relay.clone(), id.clone(), method.to_string());
                tokio::spawn(async move {
                    let answer = match relay.request(&method, params).await {
                        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                        Err(e) => crate::mcp::jsonrpc::error(&id, &e),
                    };
                    if let Err(e) = shared.post(&answer).await {
                        tracing::warn!(error = %e, "answering an SSE target's {method} failed");
                    }
                });
            }
            (None, Some(method)) => relay.notify(method, params),
            (Some(id), None) => {
                let outcome = match (msg.get("result"), msg.get("error")) {
                    (Some(r), _) => Ok(r.clone()),
                    (None, Some(e)) => Err(UpstreamError::Rpc {
                        code: e.get("code").and_then(Value::as_i64).unwrap_or(crate::mcp::jsonrpc::INTERNAL_ERROR),
                        message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
                        data: e.get("data").cloned(),
                    }),
                    (None, None) => Err(unavailable("the target answered with neither result nor error")),
                };
                let waiter = shared.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string());
                if let Some(w) = waiter {
                    let _ = w.send(outcome);
                }
            }
            (None, None) => {}
        }
    }
    shared.closed.store(true, Ordering::Relaxed);
    // Whoever still waits learns that the session ended.
    shared.waiting.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

impl Shared {
    async fn post(&self, message: &Value) -> Result<(), UpstreamError> {
        let resp = self
            .http
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.to_string())
            .send()
            .await
            .map_err(|e| unavailable(format!("POST {}: {}", self.endpoint, super::with_causes(&e))))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::NOT_FOUND => {
                // The target no longer knows the session.
                self.closed.store(true, Ordering::Relaxed);
                Err(unavailable(format!("POST {}: the target ended the session (HTTP 404)", self.endpoint)))
            }
            s => Err(unavailable(format!("POST {}: HTTP {s}", self.endpoint))),
        }
    }
}

impl SseSession {
    async fn request(&self, method: &str, mut params: Value) -> Result<Value, UpstreamError> {
        let id = json!(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        if crate::mcp::stream_peer::interactive(method) {
            // Progress of the call is reported under its id (the relay maps it to the client's).
            params["_meta"] = json!({"progressToken": id});
        }
        super::trace::add_to(&mut params);
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), tx);
        let sent = self.shared.post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        if let Err(e) = sent {
            self.shared.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string());
            return Err(e);
        }
        let mut pending = CancelOnDrop { shared: Some(self.shared.clone()), id };
        let answer = rx.await;
        pending.shared = None;
        answer.map_err(|_| unavailable("the target's event stream ended before it answered"))?
    }
}

/// Tells the target a request was cancelled if dropped before its answer came (the caller
/// gave up: the client cancelled or hung up, or a deadline passed).
struct CancelOnDrop {
    shared: Option<Arc<Shared>>,
    id: Value,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else { return };
        shared.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id.to_string());
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": self.id, "reason": "the caller gave up the request"}});
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = shared.post(&cancel).await;
            });
        }
    }
}

fn with_arguments(mut params: Value, arguments: Option<Map<String, Value>>) -> Value {
    if let Some(a) = arguments {
        params["arguments"] = Value::Object(a);
    }
    params
}

impl McpUpstream for SseSession {
    fn capabilities(&self) -> Value {
        self.capabilities.clone()
    }

    fn list_page(&self, kind: ListKind, cursor: Option<String>) -> BoxFuture<'_, Result<Page, UpstreamError>> {
        Box::pin(async move {
            let params = cursor.map_or_else(|| json!({}), |c| json!({"cursor": c}));
            let result = self.request(kind.method(), params).await?;
            Ok(Page::from_result(kind, &result))
        })
    }

    fn call_tool(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(self.request("tools/call", with_arguments(json!({"name": name}), arguments)))
    }

    fn read_resource(&self, uri: String) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(self.request("resources/read", json!({"uri": uri})))
    }

    fn get_prompt(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(self.request("prompts/get", with_arguments(json!({"name": name}), arguments)))
    }

    fn complete(&self, params: Map<String, Value>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(self.request("completion/complete", Value::Object(params)))
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }
}
