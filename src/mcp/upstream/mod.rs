//! Upstream MCP sessions, behind two small traits so that the MCP client library stays in one
//! file ([`rmcp_client`]; [`sse_client`] is our own, for legacy HTTP+SSE targets): a
//! [`Connector`] opens a session to a target, an [`McpUpstream`] is that session; [`relay`]
//! takes what the target asks of the client. [`pool::UpstreamPool`] keeps one session per target across requests and
//! reloads.
//!
//! Results are plain JSON (`serde_json::Value`) as the target sent them, so that federation
//! rewrites names and URIs without knowing the library's types.

pub mod http_client;
pub mod pool;
pub mod relay;
pub mod rmcp_client;
pub mod sse_client;
pub mod trace;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::ir::mcp::McpTargetIr;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The four federated listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ListKind {
    Tools,
    Resources,
    ResourceTemplates,
    Prompts,
}

impl ListKind {
    pub const ALL: [ListKind; 4] =
        [ListKind::Tools, ListKind::Resources, ListKind::ResourceTemplates, ListKind::Prompts];

    /// The JSON-RPC method that lists these items.
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Resources => "resources/list",
            ListKind::ResourceTemplates => "resources/templates/list",
            ListKind::Prompts => "prompts/list",
        }
    }

    /// The result's field holding the items.
    pub fn field(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
            ListKind::Prompts => "prompts",
        }
    }

    /// The item's field that identifies it (and that federation renames or rewrites).
    pub fn key(self) -> &'static str {
        match self {
            ListKind::Tools | ListKind::Prompts => "name",
            ListKind::Resources => "uri",
            ListKind::ResourceTemplates => "uriTemplate",
        }
    }

    /// The server capability that offers these items.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources | ListKind::ResourceTemplates => "resources",
            ListKind::Prompts => "prompts",
        }
    }

    /// The item's identifying value (empty when missing).
    pub fn id_of(self, item: &Value) -> &str {
        item.get(self.key()).and_then(Value::as_str).unwrap_or_default()
    }
}

/// One page of a target's listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    /// The target's cursor for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The page in a listing result as the target sent it.
    pub fn from_result(kind: ListKind, result: &Value) -> Page {
        let items = match result.get(kind.field()) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let next_cursor = result.get("nextCursor").and_then(Value::as_str).map(str::to_string);
        Page { items, next_cursor }
    }
}

/// One live session with a target.
pub trait McpUpstream: Send + Sync {
    /// The `capabilities` the target announced at `initialize`.
    fn capabilities(&self) -> Value;
    /// One page of a listing, from the target's own `cursor` (`None`: the first page).
    fn list_page(&self, kind: ListKind, cursor: Option<String>) -> BoxFuture<'_, Result<Page, UpstreamError>>;
    /// Calls a tool by the target's own name; the `CallToolResult` as the target sent it.
    fn call_tool(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>>;
    /// Reads a resource by the target's own URI; the `ReadResourceResult` as sent.
    fn read_resource(&self, uri: String) -> BoxFuture<'_, Result<Value, UpstreamError>>;
    /// Gets a prompt by the target's own name; the `GetPromptResult` as sent.
    fn get_prompt(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>>;
    /// `completion/complete` with params already in the target's own terms.
    fn complete(&self, params: Map<String, Value>) -> BoxFuture<'_, Result<Value, UpstreamError>>;
    /// Whether the session has ended (the process exited, the transport closed).
    fn is_closed(&self) -> bool;
    /// Ends the session; resolves when it has ended (a stdio target's process has exited).
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Opens sessions to targets.
pub trait Connector: Send + Sync {
    /// Opens a session whose requests and notifications to the client go to `relay`.
    fn connect(
        &self,
        target: Arc<McpTargetIr>,
        relay: Arc<relay::Relay>,
    ) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>>;
}

/// What Sluice declares to targets it answers, as their client: sampling, elicitation (forms
/// and URLs) and roots — whatever its own clients answer is relayed to them.
pub fn client_capabilities() -> Value {
    serde_json::json!({"sampling": {}, "elicitation": {"form": {}, "url": {}}, "roots": {}})
}

/// An error with its causes (`a: b: c`): transport errors keep the reason (a refused
/// certificate, a reset connection) in their sources.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The target answered with a JSON-RPC error.
    #[error("{message} (JSON-RPC error {code})")]
    Rpc { code: i64, message: String, data: Option<Value> },
    /// The target cannot be reached, or its session ended.
    #[error("{0}")]
    Unavailable(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl UpstreamError {
    /// Whether the session should be dropped and a new one started next time.
    pub fn breaks_session(&self) -> bool {
        match self {
            UpstreamError::Rpc { .. } | UpstreamError::Timeout(_) => false,
            UpstreamError::Unavailable(_) => true,
        }
    }
}
