//! What a caller may see and use on an MCP route: the route's authorization rules asked for
//! each tool, prompt and resource, at list time and at use time (an item a caller may not use
//! is neither listed nor callable: it is unknown to them). Rules see `mcp.target`, and
//! `mcp.tool.name` / `mcp.prompt.name` as `<target><separator><name>` whatever the backend's
//! prefix mode, `mcp.resource.uri` as the target gives it.

use http::request::Parts;
use serde_json::{Value, json};

use super::federation::{ItemFilter, ListKind};
use super::naming;
use crate::ir::ObjectKey;
use crate::ir::mcp::McpBackendIr;
use crate::policy::Admitted;
use crate::policy::authz::{self, Facts, Point};

/// The authorization rules of one request, asked per item.
pub struct PolicyFilter {
    pub admitted: Admitted,
    /// The request as rules see it (method, path, host, headers).
    pub parts: Parts,
    /// The route's backends, for their name separators.
    pub backends: std::sync::Arc<[std::sync::Arc<McpBackendIr>]>,
}

impl PolicyFilter {
    /// The filter of a request admitted under a policy with authorization rules.
    pub fn of(parts: &Parts, backends: &std::sync::Arc<[std::sync::Arc<McpBackendIr>]>) -> Option<PolicyFilter> {
        let admitted = parts.extensions.get::<Admitted>()?.clone();
        admitted.policy.authorization.as_ref()?;
        let mut head = http::Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.headers_mut() = parts.headers.clone();
        Some(PolicyFilter { admitted, parts: head.into_parts().0, backends: backends.clone() })
    }
}

impl ItemFilter for PolicyFilter {
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
