//! Federation: the targets of a route's MCPBackends seen as one server. `tools/list` fans out
//! to every target at once and merges with consistent naming; `tools/call` goes to the owner
//! under its own name.
//!
//! Who may see and call what is asked of a [`ToolFilter`] at list and at call time; today's
//! filter allows everything, a later authorization filter plugs in there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{Map, Value, json};

use super::jsonrpc::{INTERNAL_ERROR, RpcError};
use super::naming::{self, Listed};
use super::upstream::UpstreamError;
use super::upstream::pool::UpstreamPool;
use crate::ir::ObjectKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, PrefixMode};

/// The `_meta` key naming the targets a listing could not reach.
pub const UNAVAILABLE_META: &str = "sluice.dev/unavailableTargets";

/// A per-request decision over federated items (authorization, later).
pub trait ToolFilter: Send + Sync {
    /// Whether this request may see and call the tool `tool` (the target's own name) of
    /// `target` in `backend`.
    fn allows(&self, backend: &ObjectKey, target: &str, tool: &str) -> bool;
}

/// Everything is allowed.
pub struct AllowAll;

impl ToolFilter for AllowAll {
    fn allows(&self, _: &ObjectKey, _: &str, _: &str) -> bool {
        true
    }
}

/// A target a listing could not reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub backend: ObjectKey,
    pub target: String,
    pub error: String,
}

impl Unavailable {
    fn to_json(&self) -> Value {
        json!({"backend": self.backend.to_string(), "target": self.target, "error": self.error})
    }
}

/// Where an exposed tool goes.
#[derive(Debug, Clone)]
struct Owner {
    /// The target's stable id, looked up again in the current configuration at call time.
    target_id: Arc<str>,
    upstream: String,
}

/// The federated tools of one listing.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Tool descriptions as the client sees them (renamed).
    pub tools: Vec<Value>,
    pub unavailable: Vec<Unavailable>,
    owners: HashMap<String, Owner>,
}

impl Catalog {
    /// The `tools/list` result: the tools, and the missing targets in `_meta`.
    pub fn list_result(&self) -> Value {
        let mut out = json!({"tools": self.tools});
        if !self.unavailable.is_empty() {
            let missing: Vec<Value> = self.unavailable.iter().map(Unavailable::to_json).collect();
            out["_meta"] = json!({ UNAVAILABLE_META: missing });
        }
        out
    }
}

pub struct Federation<'a> {
    pub pool: &'a UpstreamPool,
    pub backends: &'a [Arc<McpBackendIr>],
    pub filter: &'a dyn ToolFilter,
}

impl Federation<'_> {
    fn targets(&self) -> impl Iterator<Item = (&Arc<McpBackendIr>, &Arc<McpTargetIr>)> {
        self.backends.iter().flat_map(|b| b.targets.iter().map(move |t| (b, t)))
    }

    /// Lists every target in parallel and merges the answers.
    pub async fn list(&self) -> Result<Catalog, RpcError> {
        let answers = join_all(self.targets().map(|(_, t)| self.pool.list_tools(t))).await;
        let mut answers = answers.into_iter();
        let mut catalog = Catalog::default();
        let mut taken = HashSet::new();
        for backend in self.backends {
            let mut tools: Vec<Vec<Value>> = Vec::new();
            let mut names: Vec<Vec<String>> = Vec::new();
            let mut live = Vec::new();
            for target in &backend.targets {
                let Some(answer) = answers.next() else { break };
                match answer {
                    Ok(list) => {
                        let list: Vec<Value> = list.into_iter().filter(|t| target.tools.allows(tool_name(t))).collect();
                        let n: Vec<String> = list.iter().map(|t| tool_name(t).to_string()).collect();
                        self.pool.remember_tools(target, n.clone());
                        tools.push(list);
                        names.push(n);
                        live.push(true);
                    }
                    Err(e) => {
                        tracing::warn!(target = %target.id, error = %e, "MCP target left out of tools/list");
                        catalog.unavailable.push(Unavailable {
                            backend: backend.key.clone(),
                            target: target.name.clone(),
                            error: e.to_string(),
                        });
                        tools.push(Vec::new());
                        names.push(self.pool.known_tools(target));
                        live.push(false);
                    }
                }
            }
            let listed: Vec<Listed<'_>> = backend
                .targets
                .iter()
                .zip(&names)
                .zip(&live)
                .map(|((t, n), l)| Listed { target: &t.name, names: n, live: *l })
                .collect();
            let exposed = naming::merge(backend.prefix, &backend.separator, &listed);
            for e in exposed {
                let Some(target) = backend.targets.get(e.target) else { continue };
                if !self.filter.allows(&backend.key, &target.name, &e.upstream) || !taken.insert(e.name.clone()) {
                    continue;
                }
                let Some(mut tool) = tools[e.target].iter().find(|t| tool_name(t) == e.upstream).cloned() else {
                    continue;
                };
                tool["name"] = Value::String(e.name.clone());
                catalog.tools.push(tool);
                catalog.owners.insert(e.name, Owner { target_id: target.id.clone(), upstream: e.upstream });
            }
            let failed: Vec<&Unavailable> = catalog.unavailable.iter().filter(|u| u.backend == backend.key).collect();
            if backend.failure_mode == FailureMode::FailClosed && !failed.is_empty() {
                let names: Vec<String> = failed.iter().map(|u| format!("{} ({})", u.target, u.error)).collect();
                return Err(RpcError::new(
                    INTERNAL_ERROR,
                    format!("MCPBackend {} is unavailable: target(s) {}", backend.key, names.join(", ")),
                )
                .with_data(json!({ UNAVAILABLE_META: failed.iter().map(|u| u.to_json()).collect::<Vec<_>>() })));
            }
        }
        Ok(catalog)
    }

    /// Calls the tool the client knows as `name`: through `catalog` (the client's last
    /// listing) when it knows the name, else through a fresh listing.
    pub async fn call(
        &self,
        catalog: Option<&Catalog>,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Value, RpcError> {
        let cached = catalog.and_then(|c| c.owners.get(name)).and_then(|o| self.resolve(o));
        let (backend, target, upstream) = match cached {
            Some(found) => found,
            None => {
                let fresh = self.list().await?;
                match fresh.owners.get(name).and_then(|o| self.resolve(o)) {
                    Some(found) => found,
                    None => return Err(self.unknown(&fresh, name)),
                }
            }
        };
        if !self.filter.allows(&backend.key, &target.name, &upstream) {
            return Err(RpcError::invalid_params(format!("Unknown tool: {name}")));
        }
        self.pool.call_tool(target, upstream, arguments).await.map_err(|e| match e {
            UpstreamError::Rpc { code, message, data } => RpcError { code, message, data },
            other => unavailable_error(backend, target, &other.to_string()),
        })
    }

    fn resolve(&self, owner: &Owner) -> Option<(&Arc<McpBackendIr>, &Arc<McpTargetIr>, String)> {
        self.targets().find(|(_, t)| t.id == owner.target_id).map(|(b, t)| (b, t, owner.upstream.clone()))
    }

    /// The error for a name no live target offers: the unavailable target that would own it
    /// (by its prefix or its last known tools), else an unknown tool.
    fn unknown(&self, catalog: &Catalog, name: &str) -> RpcError {
        for u in &catalog.unavailable {
            let Some((backend, target)) = self.targets().find(|(b, t)| b.key == u.backend && t.name == u.target) else {
                continue;
            };
            let by_prefix = backend.prefix != PrefixMode::Never
                && name.strip_prefix(&naming::prefixed(&target.name, &backend.separator, "")).is_some();
            let by_name = self.pool.known_tools(target).iter().any(|t| t == name);
            if by_prefix || by_name {
                return unavailable_error(backend, target, &u.error);
            }
        }
        RpcError::invalid_params(format!("Unknown tool: {name}"))
    }
}

fn unavailable_error(backend: &McpBackendIr, target: &McpTargetIr, why: &str) -> RpcError {
    RpcError::new(
        INTERNAL_ERROR,
        format!("MCP target {:?} of MCPBackend {} is unavailable: {why}", target.name, backend.key),
    )
    .with_data(json!({"backend": backend.key.to_string(), "target": target.name}))
}

fn tool_name(tool: &Value) -> &str {
    tool.get("name").and_then(Value::as_str).unwrap_or_default()
}
