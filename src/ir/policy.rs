//! TrafficPolicies in the snapshot: each section compiled at translation (keys hashed, JWKS
//! parsed, CEL programs compiled), and the effective policy of each route rule on each
//! listener, merged section by section (docs/policies.md).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde::Serialize;

use super::backend::Upstream;
/// Sections the pipelines use as configured (validated at translation): the snapshot holds the
/// resource types themselves.
pub use crate::api::{BudgetPeriod, RedisFailure, RequestFields, Shaping, ShapingMessage};

/// The policy that applies to one route rule on one listener. Each section comes from the most
/// specific attachment that sets it; `None`: no policy sets it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PolicyIr {
    pub authentication: Option<Arc<AuthnIr>>,
    pub authorization: Option<Arc<AuthzIr>>,
    /// Model patterns AI requests may ask for (exact, or ending in `*`).
    pub models: Option<Arc<[String]>>,
    pub identity_headers: Option<Arc<IdentityHeadersIr>>,
    pub mcp_authorization: Option<Arc<McpAuthIr>>,
    pub rate_limits: Option<Arc<[RateLimitIr]>>,
    pub guards: Option<Arc<[GuardIr]>>,
    /// Prompt shaping, as configured (applied by the AI pipeline).
    pub shaping: Option<Arc<Shaping>>,
    pub budgets: Option<Arc<[BudgetIr]>>,
    /// The largest request body of a proxied route, in bytes.
    pub max_request_body: Option<u64>,
    /// Proxied routes' waits on their backends where the rule sets none.
    pub timeouts: Option<UpstreamTimeoutsIr>,
    pub access_log: Option<Arc<AccessLogIr>>,
    /// `namespace/name` of the TrafficPolicy of each section set, for logs and status.
    pub sources: BTreeMap<&'static str, String>,
}

impl PolicyIr {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// The fields an access log line may have (docs/observability.md). The query string, headers,
/// credentials and bodies are never among them.
pub const ACCESS_LOG_FIELDS: [&str; 31] = [
    "time",
    "route",
    "backend",
    "endpoint",
    "method",
    "path",
    "status",
    "duration_ms",
    "first_byte_ms",
    "upstream_ms",
    "attempts",
    "bytes",
    "complete",
    "client_ip",
    "identity",
    "policy",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "cost_usd",
    "finish_reason",
    "prompt",
    "mcp_method",
    "mcp_target",
    "mcp_tool",
    "mcp_result",
];

/// A route's access log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessLogIr {
    /// A file, or standard output (`None`).
    pub path: Option<Arc<str>>,
    /// The fields written (`None`: all that have a value).
    pub fields: Option<Arc<[&'static str]>>,
    /// The share of requests logged, 0 to 1.
    pub sampling: f64,
    /// Status ranges logged (inclusive; empty: all).
    pub statuses: Vec<(u16, u16)>,
    /// Whether `fields` names the prompt (known at translation, asked per AI request).
    pub prompt: bool,
}

impl AccessLogIr {
    pub fn logs_status(&self, status: u16) -> bool {
        self.statuses.is_empty() || self.statuses.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

/// A proxied route's waits on its backend (`None`: the gateway's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamTimeoutsIr {
    pub response_header: Option<Duration>,
    /// `Some(ZERO)`: never cut.
    pub body_idle: Option<Duration>,
    pub mirror: Option<Duration>,
}

/// Bounds on a Gateway's client connections, for each of its ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionsIr {
    /// `None`: the process's cap (`sluice run --max-connections`).
    pub max_connections: Option<usize>,
    pub header_read: Duration,
    pub tls_handshake: Duration,
    /// `None`: no pings.
    pub h2_keep_alive_interval: Option<Duration>,
    pub h2_keep_alive_timeout: Duration,
    pub h2_max_concurrent_streams: u32,
    pub h2_max_header_list_size: u32,
}

impl Default for ConnectionsIr {
    /// The bounds of a Gateway no policy sets (docs/hardening.md says why each).
    fn default() -> Self {
        ConnectionsIr {
            max_connections: None,
            header_read: Duration::from_secs(10),
            tls_handshake: Duration::from_secs(10),
            h2_keep_alive_interval: Some(Duration::from_secs(20)),
            h2_keep_alive_timeout: Duration::from_secs(20),
            h2_max_concurrent_streams: 200,
            h2_max_header_list_size: 64 << 10,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuthnIr {
    pub api_keys: Option<ApiKeysIr>,
    pub jwt: Option<JwtIr>,
    pub basic: Option<BasicIr>,
    pub external: Option<ExternalAuthIr>,
    /// Requests without credentials go through anonymous.
    pub optional: bool,
}

#[derive(Debug, Serialize)]
pub struct ApiKeysIr {
    pub keys: Vec<ApiKeyIr>,
    /// Headers read besides `Authorization: Bearer`, `x-api-key` and `x-goog-api-key`.
    #[serde(serialize_with = "header_names")]
    pub headers: Vec<HeaderName>,
}

/// One virtual key. Only the SHA-256 of the key is held.
#[derive(Debug, Serialize)]
pub struct ApiKeyIr {
    pub name: String,
    #[serde(skip)]
    pub digest: [u8; 32],
    pub attributes: BTreeMap<String, String>,
    /// Model patterns the key may use; empty: any.
    pub models: Vec<String>,
    /// Unix seconds after which the key is refused.
    pub expires: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct JwtIr {
    pub providers: Vec<JwtProviderIr>,
}

#[derive(Debug, Serialize)]
pub struct JwtProviderIr {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub keys: JwksIr,
    pub clock_skew: u64,
    pub forward: bool,
    pub name_claim: String,
}

#[derive(Debug, Serialize)]
pub enum JwksIr {
    /// Keys given in the configuration.
    Static(#[serde(skip)] Arc<jsonwebtoken::jwk::JwkSet>),
    /// Keys fetched from a URL (cached by the policy layer, outside the snapshot).
    Remote { url: String },
}

#[derive(Debug, Serialize)]
pub struct BasicIr {
    #[serde(skip)]
    pub users: HashMap<String, PasswordHash>,
    pub realm: String,
}

#[derive(Debug)]
pub enum PasswordHash {
    /// `$2a$`/`$2b$`/`$2y$` bcrypt.
    Bcrypt(String),
    /// `{SHA}` base64 of SHA-1 (legacy htpasswd).
    Sha1(Vec<u8>),
}

#[derive(Debug, Serialize)]
pub struct ExternalAuthIr {
    pub upstream: Arc<Upstream>,
    /// `host:port` sent as the authority.
    pub authority: String,
    /// Prefix put before the request's path.
    pub path_prefix: String,
    #[serde(serialize_with = "header_names")]
    pub allowed_headers: Vec<HeaderName>,
    #[serde(serialize_with = "header_names")]
    pub allowed_response_headers: Vec<HeaderName>,
    #[serde(with = "secs")]
    pub timeout: Duration,
    pub fail_open: bool,
    #[serde(serialize_with = "opt_header_name")]
    pub identity_header: Option<HeaderName>,
}

#[derive(Debug, Serialize)]
pub struct AuthzIr {
    pub rules: Vec<AuthzRuleIr>,
    /// When no rule matches.
    pub default_allow: bool,
}

#[derive(Debug, Serialize)]
pub struct AuthzRuleIr {
    pub name: String,
    pub allow: bool,
    /// The expression as written.
    pub source: String,
    #[serde(skip)]
    pub program: Arc<cel::Program>,
    /// Whether the rule reads `mcp` (evaluated per MCP tool, prompt and resource).
    pub reads_mcp: bool,
    /// Whether the rule reads `request.model` (evaluated where the model is known).
    pub reads_model: bool,
}

#[derive(Debug, Serialize)]
pub struct IdentityHeadersIr {
    #[serde(serialize_with = "opt_header_name")]
    pub name: Option<HeaderName>,
    #[serde(skip)]
    pub attributes: Vec<(String, HeaderName)>,
}

#[derive(Debug, Serialize)]
pub struct McpAuthIr {
    pub authorization_servers: Vec<String>,
    pub resource: Option<String>,
    pub scopes_supported: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BudgetIr {
    /// `namespace/policy/budget`: spend is stored under it.
    pub id: String,
    pub name: String,
    pub usd: f64,
    pub soft_usd: Option<f64>,
    pub period: BudgetPeriod,
    pub key: Vec<KeyPart>,
}

#[derive(Debug, Serialize)]
pub struct GuardIr {
    pub name: String,
    /// What it looks for (none for a remote guard).
    pub detectors: Vec<DetectorIr>,
    pub action: GuardActionIr,
    pub scope: GuardScope,
    /// A service that decides instead of detectors.
    pub remote: Option<RemoteGuardIr>,
}

/// A guard decided elsewhere.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RemoteGuardIr {
    /// Sluice's webhook protocol (docs/policies.md) over HTTP.
    Webhook {
        #[serde(skip)]
        upstream: Arc<Upstream>,
        /// `host:port` sent as the authority.
        authority: String,
        path: String,
        #[serde(with = "secs")]
        timeout: Duration,
        fail_open: bool,
    },
    /// OpenAI's moderation API on an AIBackend's first provider.
    Moderation {
        #[serde(skip)]
        backend: Arc<super::ai::AiBackendIr>,
        backend_name: String,
        model: Option<String>,
        thresholds: BTreeMap<String, f64>,
        #[serde(with = "secs")]
        timeout: Duration,
        fail_open: bool,
    },
}

#[derive(Debug, Serialize)]
pub struct DetectorIr {
    /// The built-in's name, or `regex`.
    pub name: String,
    #[serde(serialize_with = "regex_str")]
    pub regex: regex::Regex,
    pub check: Check,
    /// The longest text it can match.
    pub max_len: usize,
    /// The fewest digits a match has (a text with fewer is not searched).
    pub min_digits: usize,
}

/// A check a candidate match must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Check {
    None,
    Luhn,
    Iban,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum GuardActionIr {
    Mask { replacement: String },
    Reject { status: u16, message: String },
}

/// Where a guard looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GuardScope {
    pub system: bool,
    pub user: bool,
    pub tool_inputs: bool,
    pub tool_results: bool,
    pub output: bool,
}

impl GuardScope {
    /// Whether the guard looks at anything the client sends (not only at answers).
    pub fn reads_prompt(&self) -> bool {
        self.system || self.user || self.tool_inputs || self.tool_results
    }
}

fn regex_str<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

#[derive(Debug, Serialize)]
pub struct RateLimitIr {
    /// `namespace/policy/limit` and the quota: the limiter's state is found by it, and kept
    /// across reloads while it stays the same.
    pub id: String,
    pub name: String,
    /// `None`: requests.
    pub tokens: Option<TokenCountIr>,
    pub limit: u64,
    #[serde(with = "secs")]
    pub period: Duration,
    pub burst: u64,
    pub key: Vec<KeyPart>,
    pub default_max_output: u64,
    /// Shared through Redis: what to do when it cannot decide, and how long it may take.
    pub global: Option<GlobalIr>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GlobalIr {
    pub on_failure: RedisFailure,
    #[serde(with = "secs")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenCountIr {
    Total,
    Input,
    Output,
}

/// One part of a limit's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KeyPart {
    ClientIp,
    Identity,
    Model,
    Route,
    Tool,
    Header(#[serde(serialize_with = "header_name")] HeaderName),
    Claim(String),
    Attribute(String),
}

impl RateLimitIr {
    /// Whether the limit can only be decided once the model is known (AI routes).
    pub fn needs_model(&self) -> bool {
        self.tokens.is_some() || self.key.contains(&KeyPart::Model)
    }

    pub fn needs_tool(&self) -> bool {
        self.key.contains(&KeyPart::Tool)
    }
}

fn header_name<S: serde::Serializer>(v: &HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn header_names<S: serde::Serializer>(v: &[HeaderName], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(HeaderName::as_str))
}

fn opt_header_name<S: serde::Serializer>(v: &Option<HeaderName>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(h) => s.serialize_some(h.as_str()),
        None => s.serialize_none(),
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
