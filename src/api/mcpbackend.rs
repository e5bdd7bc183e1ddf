//! `MCPBackend` (sluice.dev/v1alpha1): MCP servers federated behind one endpoint, referenced
//! from HTTPRoute backendRefs (`group: sluice.dev, kind: MCPBackend`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::ObjectMeta;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpBackend {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: McpBackendSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpBackendSpec {
    /// The MCP servers federated by this backend; names are unique within it.
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.all(t, self.exists_one(o, o.name == t.name))", "message": "target names are unique"}]))]
    pub targets: Vec<McpTarget>,
    /// How federated tool names are built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<McpNaming>,
    /// What happens when a target is unavailable (default `FailOpen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<McpFailureMode>,
    /// Downstream sessions: the key that seals their ids, so that any replica holding it can
    /// serve them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<McpSessions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpSessions {
    /// A Secret in the backend's namespace holding at least 16 bytes (32 random bytes are
    /// advised). Without it, session ids are random and only the process that issued one
    /// serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret_ref: Option<McpSecretKeyRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpSecretKeyRef {
    pub name: String,
    /// The Secret's data key (default `sessionKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One MCP server. Exactly one of `stdio`, `sse` and `streamableHttp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "(has(self.stdio) ? 1 : 0) + (has(self.sse) ? 1 : 0) + (has(self.streamableHttp) ? 1 : 0) == 1", "message": "set exactly one of stdio, sse and streamableHttp"}]))]
pub struct McpTarget {
    /// Names the target in prefixes, logs and errors: letters, digits, `-` and `_`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"), length(min = 1, max = 63))]
    pub name: String,
    /// A local process speaking MCP on stdin/stdout, started by Sluice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<McpStdio>,
    /// A server of the legacy HTTP+SSE transport (2024-11-05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<McpUrl>,
    /// A server of the streamable HTTP transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streamable_http: Option<McpUrl>,
    /// Headers sent with every HTTP request to the target (routing, non-secret values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from Secrets in the backend's namespace (credentials), by
    /// header name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_from_secrets: BTreeMap<String, McpSecretValueRef>,
    /// Which of the target's tools are offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<McpToolFilter>,
    /// TLS towards an `https://` `url` (without it: verified against the well-known roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<McpTargetTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpTargetTls {
    /// ConfigMaps in the backend's namespace whose `ca.crt` holds the CA certificates to
    /// trust instead of the well-known roots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificate_refs: Vec<McpLocalRef>,
}

/// An object in the backend's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpLocalRef {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpStdio {
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Variables of the process's environment (besides `PATH`, `HOME`, `TMPDIR`, `LANG` and
    /// `LC_ALL`, the only ones taken from the gateway's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variables whose values come from Secrets in the backend's namespace (keys, tokens), by
    /// variable name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_from_secrets: BTreeMap<String, McpSecretValueRef>,
}

/// Where an HTTP target listens: exactly one of `url` and `backendRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpUrl {
    /// An `http://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A Service port, reached at one of its ready endpoints (from its EndpointSlices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<McpServiceRef>,
    /// The path on the Service (with `backendRef`; default `/mcp`, or `/sse` for `sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A Service port; another namespace's needs a ReferenceGrant there allowing MCPBackends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpServiceRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub port: u16,
}

/// One value of a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpSecretValueRef {
    /// The Secret, in the backend's namespace.
    pub name: String,
    /// The Secret's data key.
    pub key: String,
}

/// Tool names (as the target names them) or patterns with `*`; `exclude` wins over `include`,
/// and an empty `include` takes every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpToolFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpNaming {
    /// `Always` (default), `OnConflict` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<McpPrefixMode>,
    /// Between the target name and the tool name (default `_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum McpPrefixMode {
    /// Every tool is `<target><separator><tool>`.
    #[default]
    Always,
    /// Only tools whose name another target also uses are prefixed.
    OnConflict,
    /// Names are kept; on a clash the first target (in spec order) keeps the name.
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum McpFailureMode {
    /// Any unavailable target fails a list request with a JSON-RPC error.
    FailClosed,
    /// The healthy targets are served; the missing ones are named in `_meta` and the log.
    #[default]
    FailOpen,
}
