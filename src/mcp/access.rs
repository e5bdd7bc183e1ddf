//! What a caller may see and use on an MCP route: the route's authorization rules asked for
//! each tool, prompt and resource, at list time and at use time (an item a caller may not use
//! is neither listed nor callable: it is unknown to them). Rules see `mcp.target`, and
//! `mcp.tool.name` / `mcp.prompt.name` as `<target><separator><name>` whatever the backend's
//! prefix mode, `mcp.resource.uri` as the target gives it.

use http::request::Parts;
use serde_json::{Value, json};

use super::federation::{ItemFilter, ListKind};
use super::jsonrpc::RpcError;
use super::naming;
use crate::ir::ObjectKey;
use crate::ir::mcp::McpBackendIr;
use crate::policy::limits::{Stage, Subject};
use crate::policy::{Admitted, PolicyLayer};

/// The JSON-RPC error code of a refused call (implementation-defined range): rate limited.
pub const RATE_LIMITED: i64 = -32029;
use crate::policy::authz::{self, Facts, Point};

/// The authorization rules and tool-call limits of one request, asked per item.
pub struct PolicyFilter {
    pub admitted: Admitted,
    /// The request as rules see it (method, path, host, headers).
    pub parts: Parts,
    /// The route's backends, for their name separators.
    pub backends: std::sync::Arc<[std::sync::Arc<McpBackendIr>]>,
    /// The rate limiters.
    pub policy: std::sync::Arc<PolicyLayer>,
    /// Where tool-call decisions are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl PolicyFilter {
    /// The filter of a request admitted under a policy with authorization rules.
    pub fn of(
        parts: &Parts,
        admitted: Option<&Admitted>,
        backends: &std::sync::Arc<[std::sync::Arc<McpBackendIr>]>,
        (policy, metrics): (&std::sync::Arc<PolicyLayer>, &std::sync::Arc<crate::metrics::Metrics>),
    ) -> Option<PolicyFilter> {
        let admitted = admitted?.clone();
        if admitted.policy.authorization.is_none() && admitted.policy.rate_limits.is_none() {
            return None;
        }
        let mut head = http::Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.headers_mut() = parts.headers.clone();
        Some(PolicyFilter {
            admitted,
            parts: head.into_parts().0,
            backends: backends.clone(),
            policy: policy.clone(),
            metrics: metrics.clone(),
        })
    }
}

impl ItemFilter for PolicyFilter {
    fn admit_call<'a>(&'a self, name: &'a str) -> crate::mcp::upstream::BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(async move {
            let Some(limits) = &self.admitted.policy.rate_limits else { return Ok(()) };
            let a = &self.admitted;
            let subject = Subject {
                parts: &self.parts,
                peer: a.peer,
                identity: &a.identity,
                route: &a.route,
                model: None,
                tool: Some(name),
            };
            let checked = self.policy.limits.check(limits, Stage::ToolCall, &subject, None).await;
            if crate::policy::limits::any_asked(limits, Stage::ToolCall, false) {
                let result = checked.as_ref().map_or_else(crate::policy::Denial::outcome, |_| "allowed");
                self.metrics.record_stage("tool_call", "rate_limit", result);
                super::upstream::trace::note_decision("tool_call", "rate_limit", result);
            }
            checked.map(|_| ()).map_err(|d| {
                let seconds = d.retry_after.map_or(1, |r| r.as_secs().max(1));
                RpcError::new(RATE_LIMITED, d.message).with_data(json!({"retryAfterSeconds": seconds}))
            })
        })
    }

    fn allows(&self, backend: &ObjectKey, target: &str, kind: ListKind, name: &str) -> bool {
        let Some(z) = &self.admitted.policy.authorization else { return true };
        let separator = self.backends.iter().find(|b| &b.key == backend).map_or("_", |b| b.separator.as_str());
        let item = match kind {
            ListKind::Tools => {
                json!({"tool": {"name": naming::prefixed(target, separator, name), "upstreamName": name}})
            }
            ListKind::Prompts => {
                json!({"prompt": {"name": naming::prefixed(target, separator, name), "upstreamName": name}})
            }
            ListKind::Resources | ListKind::ResourceTemplates => json!({"resource": {"uri": name}}),
        };
        let mut mcp = item;
        mcp["target"] = Value::String(target.to_string());
        let facts = Facts { parts: &self.parts, model: None, mcp: Some(mcp) };
        authz::authorize(z, &self.admitted.identity, &facts, Point::McpItem).is_ok()
    }
}
