//! MCP federation: one streamable HTTP endpoint in front of the targets of a route's
//! MCPBackends. It reads the IR only; upstream sessions and downstream sessions live in
//! [`McpState`], outside the snapshot.
//!
//! - [`http`]: the downstream transport (status codes, session header, JSON or SSE answers);
//!   [`legacy`]: the HTTP+SSE transport of old clients on the same path; [`modern`]: the
//!   stateless era (2026-07-28) on the same path;
//! - [`jsonrpc`]: reading and writing JSON-RPC messages;
//! - [`federation`]: fan-out, merging, routing, and the per-request [`federation::ItemFilter`];
//! - [`cursor`]: pagination cursors that span targets;
//! - [`naming`]: prefixes, clashes and rewritten resource URIs;
//! - [`session`]: downstream sessions; [`session_token`]: their portable, sealed ids;
//! - [`stream_peer`]: what targets ask of the client, relayed down an SSE stream (session era);
//!   [`input_required`] turns the same into input-required results (stateless era);
//!   [`listen`]: the stateless era's `subscriptions/listen` streams;
//! - [`upstream`]: upstream sessions behind small traits (rmcp in one file).

pub mod access;
pub mod cursor;
pub mod federation;
pub mod http;
pub mod input_required;
pub mod jsonrpc;
pub mod legacy;
pub mod listen;
pub mod modern;
pub mod naming;
mod observed;
pub mod session;
pub mod session_token;
pub mod stream_peer;
pub mod upstream;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::sync::Arc;

use ::http::Response;
use ::http::request::Parts;
use hyper::body::Incoming;

use self::federation::{AllowAll, Federation};
use self::session::Sessions;
use self::upstream::pool::{Timeouts, UpstreamPool};
use self::upstream::relay::ClientPeer;
use crate::httpkit::body::ProxyBody;
use crate::ir::mcp::{McpBackendIr, McpRoute, McpTargetIr};
use crate::ir::policy::PolicyIr;
use crate::ir::{BackendTarget, Snapshot};
use crate::policy::{Denial, Peer, PolicyLayer};
use crate::proxy::pipeline::{BoxFuture, Handoff, Pipeline};

/// Largest JSON-RPC message a client may POST.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Protocol versions of the session era, newest first (the answer to an unknown request).
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What outlives a reload: upstream sessions per target, downstream sessions.
pub struct McpState {
    pub pool: UpstreamPool,
    pub sessions: Arc<Sessions>,
    /// The event streams of legacy HTTP+SSE sessions.
    pub legacy: Arc<legacy::Streams>,
    /// What the stateless requests of each route share.
    pub modern: modern::Shared,
    /// Stateless calls waiting for their client's input.
    pub parking: input_required::Parking,
    /// Stateless clients' `subscriptions/listen` streams.
    pub listeners: Arc<listen::Listeners>,
    /// Where requests are counted (the process's metrics; a state of its own by default).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl McpState {
    pub fn new(connector: Arc<dyn upstream::Connector>) -> Self {
        let sessions = Arc::new(Sessions::default());
        let listeners = Arc::new(listen::Listeners::default());
        let legacy = Arc::new(legacy::Streams::default());
        let (to_sessions, to_listeners, to_legacy) = (sessions.clone(), listeners.clone(), legacy.clone());
        let background: upstream::pool::Background = Arc::new(move |target: &McpTargetIr| {
            let backend = target.id.rsplit_once('/').map_or("", |(b, _)| b).to_string();
            let changes = ListChanges {
                sessions: to_sessions.clone(),
                listeners: to_listeners.clone(),
                legacy: to_legacy.clone(),
                backend,
            };
            Arc::new(changes) as Arc<dyn ClientPeer>
        });
        McpState {
            pool: UpstreamPool::new(connector, Timeouts::default()).with_background(background),
            sessions,
            legacy,
            modern: modern::Shared::default(),
            parking: input_required::Parking::default(),
            listeners,
            metrics: Arc::default(),
        }
    }

    /// Ends the upstream sessions of targets the new snapshot no longer has (or has changed).
    pub fn prune(&self, snapshot: &Snapshot) {
        let mut live = std::collections::HashMap::new();
        for port in snapshot.ports.values() {
            for listener in &port.listeners {
                for group in &listener.routes.groups {
                    for entry in &group.entries {
                        for b in &entry.rule.backends {
                            if let BackendTarget::Mcp(m) = &b.target {
                                for t in &m.targets {
                                    live.insert(t.id.to_string(), t.fingerprint());
                                }
                            }
                        }
                    }
                }
            }
        }
        self.pool.retain(&|id, fingerprint| live.get(id).is_some_and(|f| f == fingerprint));
    }
}

/// What a target's shared session sends between calls: its list changes go to every session
/// of the routes that include its backend (their GET streams, or legacy HTTP+SSE streams) and
/// to the listeners of those routes that asked for them; nothing else has a client.
struct ListChanges {
    sessions: Arc<Sessions>,
    listeners: Arc<listen::Listeners>,
    legacy: Arc<legacy::Streams>,
    /// The target's backend key.
    backend: String,
}

impl ClientPeer for ListChanges {
    fn affinity(&self) -> &str {
        ""
    }

    fn request(
        &self,
        method: &str,
        _: serde_json::Value,
    ) -> upstream::BoxFuture<'static, Result<serde_json::Value, jsonrpc::RpcError>> {
        upstream::relay::unanswered(method)
    }

    fn notify(&self, method: &str, params: serde_json::Value) {
        if method.ends_with("/list_changed") {
            let message = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params});
            for s in self.sessions.of_backend(&self.backend) {
                s.push(&message);
                self.legacy.notify(&s.id, &message);
            }
            self.listeners.notify(&self.backend, method);
        }
    }
}

impl Default for McpState {
    fn default() -> Self {
        McpState::new(Arc::new(upstream::rmcp_client::RmcpConnector))
    }
}

/// What one MCP request works with (owned: a call that relays the target's requests to its
/// client goes on in a task of its own).
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<McpState>,
    pub backends: Arc<[Arc<McpBackendIr>]>,
    /// Sessions are bound to this: the backends' keys.
    pub owner: Arc<str>,
    /// Who may see and use which items (the route's authorization rules).
    pub filter: Arc<dyn federation::ItemFilter>,
    /// Who the client is, for the per-client session cap: its identity when it authenticated,
    /// else its address.
    pub client: String,
    /// Where each message handled is logged, when the route's policy logs.
    pub log: Option<Arc<MessageLog>>,
    /// The HTTP request's span, when traces are on: each message handled is a child.
    pub span: Option<crate::metrics::trace::TraceSpan>,
}

/// The route's access log, and who is asking: one line per MCP message handled.
pub struct MessageLog {
    pub log: Arc<crate::ir::policy::AccessLogIr>,
    pub route: Arc<str>,
    pub identity: Option<String>,
    pub client: std::net::IpAddr,
}

/// The client a request comes from: `id:<name>` when it authenticated, else `ip:<address>`.
fn client_of(handoff: Handoff<'_>) -> String {
    match handoff.admitted.map(|a| a.identity.name.as_str()).filter(|n| !n.is_empty()) {
        Some(name) => format!("id:{name}"),
        None => format!("ip:{}", handoff.peer.ip),
    }
}

impl Ctx {
    /// The key that seals the route's session ids: the first backend's (they are routed by
    /// the owner, which names every backend).
    fn session_key(&self) -> Option<&session_token::SessionKey> {
        self.backends.first().and_then(|b| b.session_key.as_deref())
    }

    fn federation(&self) -> Federation<'_> {
        Federation { pool: &self.state.pool, backends: &self.backends, filter: &*self.filter }
    }
}

/// The MCP pipeline: serves the rules whose backends are MCPBackends.
pub struct McpPipeline {
    pub state: Arc<McpState>,
    /// The policy layer (rate limiters), shared with the proxy.
    pub policy: Arc<PolicyLayer>,
}

impl Pipeline<McpRoute> for McpPipeline {
    fn serve<'a>(
        &'a self,
        route: &'a McpRoute,
        parts: &'a Parts,
        handoff: Handoff<'a>,
        body: Incoming,
    ) -> BoxFuture<'a, Response<ProxyBody>> {
        let filter: Arc<dyn federation::ItemFilter> = match access::PolicyFilter::of(
            parts,
            handoff.admitted,
            &route.backends,
            (&self.policy, &self.state.metrics),
        ) {
            Some(f) => Arc::new(f),
            None => Arc::new(AllowAll),
        };
        let log = handoff.admitted.and_then(|a| {
            let log = a.policy.access_log.clone()?;
            let identity = Some(a.identity.name.clone()).filter(|n| !n.is_empty());
            Some(Arc::new(MessageLog { log, route: a.route.clone(), identity, client: handoff.peer.ip }))
        });
        let ctx = Ctx {
            state: self.state.clone(),
            backends: route.backends.clone(),
            owner: route.owner.clone(),
            filter,
            client: client_of(handoff),
            log,
            span: handoff.span.cloned(),
        };
        Box::pin(async move { http::serve(&ctx, parts, body).await })
    }

    fn snapshot_changed(&self, snapshot: &Snapshot) {
        self.state.prune(snapshot);
    }

    /// Ends every target session; stdio targets' processes are waited for, 10 s at most.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.state.pool.end_all(std::time::Duration::from_secs(10)))
    }

    /// A refusal as the MCP authorization specification says: the status, a JSON-RPC error,
    /// and for a 401 a challenge pointing at the route's protected-resource metadata.
    fn deny(&self, denial: &Denial, parts: &Parts, peer: Peer, policy: &PolicyIr) -> Response<ProxyBody> {
        let code =
            if denial.status == ::http::StatusCode::SERVICE_UNAVAILABLE { jsonrpc::INTERNAL_ERROR } else { -32001 };
        let e = jsonrpc::RpcError::new(code, denial.message.clone());
        let mut resp = http::rpc_status(denial.status, &serde_json::Value::Null, &e);
        let mut denial = denial.clone();
        if denial.status == ::http::StatusCode::UNAUTHORIZED
            && policy.mcp_authorization.is_some()
            && let Some(url) = crate::policy::resource_metadata_url(parts, peer)
        {
            let c = denial.challenge.take().unwrap_or_else(|| "Bearer".into());
            denial.challenge = Some(format!("{c}, resource_metadata=\"{url}\""));
        }
        denial.challenge_into(resp.headers_mut());
        resp
    }
}
