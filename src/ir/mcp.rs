//! MCP backends in the snapshot: the targets to federate, how to reach each, which of their
//! tools to offer and how to name them.

use std::sync::Arc;

use serde::Serialize;

use super::ObjectKey;

/// One MCP endpoint: the MCPBackends of a rule (weight > 0), federated together.
#[derive(Debug)]
pub struct McpRoute {
    pub backends: Arc<[Arc<McpBackendIr>]>,
    /// Downstream sessions are bound to this: the backends' keys, joined with `,`.
    pub owner: Arc<str>,
}

impl McpRoute {
    /// The endpoint of a rule's backends, if any is an MCPBackend of weight > 0.
    pub fn of(backends: &[super::Backend]) -> Option<Arc<McpRoute>> {
        let mcp: Vec<Arc<McpBackendIr>> = backends
            .iter()
            .filter_map(|b| match &b.target {
                super::BackendTarget::Mcp(m) if b.weight > 0 => Some(m.clone()),
                super::BackendTarget::Mcp(_)
                | super::BackendTarget::Upstream(_)
                | super::BackendTarget::Ai(_)
                | super::BackendTarget::Invalid { .. } => None,
            })
            .collect();
        if mcp.is_empty() {
            return None;
        }
        let owner = mcp.iter().map(|b| b.key.to_string()).collect::<Vec<_>>().join(",");
        Some(Arc::new(McpRoute { backends: mcp.into(), owner: owner.into() }))
    }
}

#[derive(Debug, Serialize)]
pub struct McpBackendIr {
    pub key: ObjectKey,
    /// In spec order: earlier targets win name clashes under `PrefixMode::Never`.
    pub targets: Vec<Arc<McpTargetIr>>,
    pub prefix: PrefixMode,
    pub separator: String,
    pub failure_mode: FailureMode,
    /// Seals downstream session ids (`spec.sessions.keySecretRef`); `None`: random ids. The
    /// configuration dump shows only a digest of it.
    #[serde(serialize_with = "key_id")]
    pub session_key: Option<Arc<crate::ir::creds::SessionKey>>,
}

fn key_id<S: serde::Serializer>(k: &Option<Arc<crate::ir::creds::SessionKey>>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_some(&k.id),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrefixMode {
    Always,
    OnConflict,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailureMode {
    FailClosed,
    FailOpen,
}

#[derive(Debug, Serialize)]
pub struct McpTargetIr {
    /// The target's name within its backend.
    pub name: String,
    /// `namespace/backend/target`: keys the upstream session, which outlives reloads.
    pub id: Arc<str>,
    pub transport: McpTransport,
    /// Sent with every HTTP request to the target.
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    pub tools: ToolRules,
    /// TLS towards an `https://` target.
    pub tls: Option<McpTls>,
}

/// TLS towards a target: the roots it is verified against.
#[derive(Debug, Serialize)]
pub struct McpTls {
    /// What the roots are (`well-known`, or the CA ConfigMaps with a digest of their PEM).
    pub roots: String,
    #[serde(skip)]
    pub config: Arc<rustls::ClientConfig>,
}

impl McpTargetIr {
    /// Everything that makes an upstream session: when it changes across a reload, the old
    /// session is closed and a new one started.
    pub fn fingerprint(&self) -> String {
        format!("{:?}|{:?}|{:?}", self.transport, self.headers, self.tls.as_ref().map(|t| &t.roots))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum McpTransport {
    /// A child process started from the configuration (never from a request).
    Stdio {
        command: String,
        /// Shown by count only (a token may be passed as an argument).
        #[serde(serialize_with = "hidden_args")]
        args: Vec<String>,
        /// Shown by name only (values may come from Secrets).
        #[serde(serialize_with = "env_names")]
        env: Vec<(String, String)>,
    },
    /// The legacy HTTP+SSE transport.
    Sse {
        #[serde(serialize_with = "url_without_query")]
        url: String,
    },
    StreamableHttp {
        #[serde(serialize_with = "url_without_query")]
        url: String,
    },
    /// An HTTP target whose Service has no ready endpoint yet: unavailable until one is.
    Unresolved { reason: String },
}

/// Tool filters of one target, over the names the target gives its tools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ToolRules {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl ToolRules {
    /// Whether the tool `name` is offered: not excluded, and included (an empty include list
    /// includes everything).
    pub fn allows(&self, name: &str) -> bool {
        let hit = |patterns: &[String]| patterns.iter().any(|p| glob_match(p, name));
        (self.include.is_empty() || hit(&self.include)) && !hit(&self.exclude)
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return pattern == name };
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Environment variables for `/config_dump`: names, with their values redacted.
fn hidden_args<S: serde::Serializer>(args: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(args.iter().map(|_| "[redacted]"))
}

fn env_names<S: serde::Serializer>(env: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(env.len()))?;
    for (name, _) in env {
        seq.serialize_element(&(name, "[redacted]"))?;
    }
    seq.end()
}

/// A URL for `/config_dump`: its query (which may hold a key) redacted.
fn url_without_query<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    match url.split_once('?') {
        Some((base, _)) => s.serialize_str(&format!("{base}?[redacted]")),
        None => s.serialize_str(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("get_*", "get_current_time"));
        assert!(glob_match("*time", "get_current_time"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(!glob_match("ab*ab", "ab"), "the prefix and suffix may not overlap");
        assert!(glob_match("echo", "echo"));
        assert!(!glob_match("echo", "echo2"));
    }

    #[test]
    fn include_then_exclude() {
        let rules = ToolRules { include: vec!["get_*".into(), "echo".into()], exclude: vec!["*_secret".into()] };
        assert!(rules.allows("get_time"));
        assert!(rules.allows("echo"));
        assert!(!rules.allows("get_secret"));
        assert!(!rules.allows("add"));
        let all = ToolRules::default();
        assert!(all.allows("anything"));
    }
}
