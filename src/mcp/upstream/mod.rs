//! Upstream MCP sessions, behind two small traits so that the MCP client library stays in one
//! file ([`rmcp_client`]): a [`Connector`] opens a session to a target, an [`McpUpstream`] is
//! that session. [`pool::UpstreamPool`] keeps one session per target across requests and
//! reloads.

pub mod pool;
pub mod rmcp_client;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::ir::mcp::McpTargetIr;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One live session with a target.
pub trait McpUpstream: Send + Sync {
    /// Every tool the target offers (all pages), as the target describes them.
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Value>, UpstreamError>>;
    /// Calls a tool by the target's own name; the `CallToolResult` as the target sent it.
    fn call_tool(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>>;
    /// Whether the session has ended (the process exited, the transport closed).
    fn is_closed(&self) -> bool;
}

/// Opens sessions to targets.
pub trait Connector: Send + Sync {
    fn connect(&self, target: Arc<McpTargetIr>) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>>;
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
