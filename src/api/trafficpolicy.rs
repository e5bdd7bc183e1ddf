//! `TrafficPolicy` (sluice.dev/v1alpha1): policies attached (GEP-713) to a Gateway (or one of
//! its listeners), an HTTPRoute (or one of its named rules), an AIBackend or an MCPBackend.
//! Each top-level section of the spec is one policy; the most specific attachment that sets a
//! section wins (docs/policies.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::httproute_filter::HttpExternalAuthFilter;
use super::meta::ObjectMeta;
use super::refs::BackendObjectReference;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: TrafficPolicySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicySpec {
    /// What the policy attaches to, in the policy's namespace.
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.all(r, (r.group == 'gateway.networking.k8s.io' && (r.kind == 'Gateway' || r.kind == 'HTTPRoute')) || (r.group == 'sluice.dev' && (r.kind == 'AIBackend' || r.kind == 'MCPBackend') && !has(r.sectionName)))", "message": "a target is a Gateway or HTTPRoute (group gateway.networking.k8s.io), or an AIBackend or MCPBackend (group sluice.dev, without sectionName)"}, {"rule": "self.all(r, self.exists_one(o, o.group == r.group && o.kind == r.kind && o.name == r.name && (has(o.sectionName) ? (has(r.sectionName) && o.sectionName == r.sectionName) : !has(r.sectionName))))", "message": "each target is named once"}]))]
    pub target_refs: Vec<PolicyTargetRef>,
    /// Who the client is: API keys, JWTs, basic credentials, an external service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// What an identity may do: CEL rules over the identity and the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// The models that may be asked for on AI routes (exact names or `prefix-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// The identity sent upstream as request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_headers: Option<IdentityHeaders>,
    /// MCP routes as OAuth 2.1 resource servers (the MCP authorization specification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_authorization: Option<McpAuthorization>,
    /// Request and token rate limits; every one that applies must admit the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.all(l, self.exists_one(o, o.name == l.name))", "message": "rate limit names are unique"}]))]
    pub rate_limits: Option<Vec<RateLimit>>,
    /// Prompt and answer guards (AI routes), streamed answers included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Vec<Guard>>,
    /// Prompt shaping on AI routes: messages added, request fields defaulted or overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shaping: Option<Shaping>,
    /// Spend limits in USD (AI routes), from the provider catalog's prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.all(b, self.exists_one(o, o.name == b.name))", "message": "budget names are unique"}]))]
    pub budgets: Option<Vec<Budget>>,
    /// The largest request body a proxied route takes (AI and MCP routes keep their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// Bounds on client connections, for every port of a Gateway (a Gateway target only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Connections>,
    /// Proxied routes' waits on their backends, where the HTTPRoute rule sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<UpstreamTimeouts>,
    /// One JSON line per request answered (docs/observability.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,
}

/// The access log of the routes a policy covers: one JSON object per line, never a secret,
/// a credential or a prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLog {
    /// A file the lines are appended to; absent, standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub path: Option<String>,
    /// The fields written, by name (absent: every field that has a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub fields: Option<Vec<String>>,
    /// The share of requests logged, from 0 to 1 (default 1: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling: Option<f64>,
    /// Only answers whose status matches one of these: `404`, `5xx`, `400-499` (absent: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub statuses: Option<Vec<String>>,
}

/// Client connection bounds of a Gateway (durations as Gateway API durations: `10s`, `1m`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connections {
    /// Most connections open at once on one port (default: `sluice run --max-connections`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Time to a request's whole head on HTTP/1.1, and to the next request on an idle
    /// keep-alive connection (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_read_timeout: Option<String>,
    /// Time to finish a TLS handshake (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Connections>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Http2Connections {
    /// A ping after this much silence (default `20s`; `0s`: no pings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive_interval: Option<String>,
    /// The connection closes when a ping's answer takes longer (default `20s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive_timeout: Option<String>,
    /// Streams a client may have open at once on one connection (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<u32>,
    /// The largest request header list, as HTTP/2 counts it (default `64Ki`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header_list_size: Option<String>,
}

/// Defaults for proxied routes' waits on their backends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamTimeouts {
    /// Time to a backend's response head when the rule sets no `timeouts` (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_header: Option<String>,
    /// A response body that sends nothing this long is cut (default: `sluice run
    /// --body-idle-timeout`, 5 minutes; `0s`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_idle: Option<String>,
    /// A mirrored request, its answer included (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestBody {
    /// Bytes, or a Kubernetes quantity: `64Ki`, `10Mi`, `1G`.
    pub max_size: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "self.usd > 0.0 && (!has(self.softUsd) || (self.softUsd >= 0.0 && self.softUsd <= self.usd))", "message": "usd must be above 0, softUsd between 0 and usd"}]))]
pub struct Budget {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The hard limit: requests are refused (403) once spend reaches it, until the period rolls.
    pub usd: f64,
    /// The soft threshold: answers carry `x-sluice-budget-warning` and a line is logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_usd: Option<f64>,
    /// `day`, `week` (from Monday) or `month`, in UTC.
    pub per: BudgetPeriod,
    /// Whose spend: `identity`, `attribute:<name>`, `claim:<name>`, `route`; empty: everyone's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BudgetPeriod {
    Day,
    Week,
    #[default]
    Month,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Shaping {
    /// Messages put before the conversation (`system` ones join the system prompt, first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prepend: Vec<ShapingMessage>,
    /// Messages put after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub append: Vec<ShapingMessage>,
    /// Set when the request has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<RequestFields>,
    /// Always set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<RequestFields>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShapingMessage {
    /// `system` or `user`.
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == 'system' || self == 'user'", "message": "role is system or user"}]))]
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// OpenAI's efforts (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

/// One guard: what it looks for, where, and what it does when it finds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guard {
    pub name: String,
    /// Built-in detectors: `creditCard` (Luhn-checked), `ssn`, `email`, `phone`, `iban`
    /// (checksum-checked), `secrets` (provider keys, AWS access key ids, GitHub tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detect: Vec<String>,
    /// Custom patterns (Rust `regex` syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex: Vec<GuardRegex>,
    /// `mask` (default) or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<GuardAction>,
    /// What a masked value becomes (default `[REDACTED]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// A rejection's status (default 400) and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where to look: `system`, `user`, `toolInputs`, `toolResults`, `output` (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.all(s, s in ['system', 'user', 'toolInputs', 'toolResults', 'output'])", "message": "a scope is system, user, toolInputs, toolResults or output"}]))]
    pub scope: Vec<String>,
    /// An HTTP service that decides instead of detectors: it gets the texts in scope and
    /// answers `pass`, `mask` (with the texts to send instead) or `reject` (docs/policies.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<GuardWebhook>,
    /// An OpenAI-compatible moderation endpoint (`POST /moderations`) of an AIBackend decides:
    /// a flagged text (or a category score at or above its threshold) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<GuardModeration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardWebhook {
    /// The service (a Service, or a Backend in standalone mode) and its port.
    pub backend_ref: BackendObjectReference,
    /// The path POSTed to (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The deadline of its answer (default `2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Let texts through when it cannot answer in time (default false: refused, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardModeration {
    /// The AIBackend (in the policy's namespace) whose first provider, of type `openai`,
    /// serves `/moderations`.
    pub backend: String,
    /// The moderation model (default: the endpoint's own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Category score thresholds (`violence: 0.5`); none set: the endpoint's `flagged` decides.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, f64>,
    /// The deadline of its answer (default `5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Let texts through when it cannot answer in time (default false: refused, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardRegex {
    pub pattern: String,
    /// The longest text the pattern can match (default 64): a streamed answer holds back this
    /// much so that a match split across chunks is still masked whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GuardAction {
    #[default]
    Mask,
    Reject,
}

/// One limit: `requests` or `tokens` per `per`, at most `burst` at once, counted per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "has(self.requests) != has(self.tokens)", "message": "set exactly one of requests and tokens"}, {"rule": "!has(self.count) || has(self.tokens)", "message": "count is for token limits only"}, {"rule": "(has(self.global) && self.global) || (!has(self.onRedisFailure) && !has(self.redisTimeout))", "message": "onRedisFailure and redisTimeout are for global limits only"}]))]
pub struct RateLimit {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tokens: Option<u64>,
    /// Which tokens count (token limits): `total` (default), `input` or `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<TokenCount>,
    pub per: Period,
    /// The most that can be used at once (default: the whole limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<u64>,
    /// What the limit is counted per: `clientIP`, `identity`, `model`, `route`, `tool`,
    /// `header:<name>`, `claim:<name>`, `attribute:<name>`; empty: one count for everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// Output tokens reserved when a request sets no maximum (token limits; default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_output_tokens: Option<u64>,
    /// Shared by every replica through Redis (`sluice run --redis-url`), not per process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<bool>,
    /// When Redis cannot decide in time: `local` (default: this process's own count), `open`
    /// (admit) or `closed` (refuse, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_redis_failure: Option<RedisFailure>,
    /// How long a Redis decision may take (default `100ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RedisFailure {
    #[default]
    Local,
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TokenCount {
    #[default]
    Total,
    Input,
    Output,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Period {
    Second,
    #[default]
    Minute,
    Hour,
    Day,
}

/// A policy target (GEP-713 `LocalPolicyTargetReferenceWithSectionName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetRef {
    #[schemars(length(max = 253))]
    pub group: String,
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// A Gateway's listener, or an HTTPRoute's named rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authentication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<ApiKeys>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// An external service asked about every request after the built-in methods (the
    /// Gateway API `ExternalAuth` filter's settings, HTTP protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAuth>,
    /// Let requests without credentials through, anonymous (credentials that fail are still
    /// refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Virtual keys: the keys clients present are Sluice's, read from Secrets. Each data entry of
/// each Secret is one key: its name is the key's name; its value is the key itself, or a JSON
/// object `{"key" | "sha256", "attributes", "models", "expires"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeys {
    pub secret_refs: Vec<LocalSecretRef>,
    /// Headers to read keys from besides `Authorization: Bearer`, `x-api-key` and
    /// `x-goog-api-key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalSecretRef {
    pub name: String,
    /// One data key of the Secret (htpasswd); absent: the whole Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Jwt {
    pub providers: Vec<JwtProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtProvider {
    pub issuer: String,
    /// Accepted `aud` values; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    pub jwks: JwksSource,
    /// Allowed clock skew in seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u32>,
    /// Keep the token on the request upstream (default: removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<bool>,
    /// The claim that names the identity (default `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_claim: Option<String>,
}

/// Exactly one of `inline`, `secretRef`, `configMapRef`, `url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwksSource {
    /// A JWKS document (`{"keys": [...]}`), JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalSecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalSecretRef>,
    /// Fetched, cached, and fetched again for an unknown `kid` (at most every 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuth {
    /// An htpasswd file in a Secret (bcrypt `$2y$`/`$2b$` or `{SHA}` entries); key `.htpasswd`
    /// unless set.
    pub secret_ref: LocalSecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalAuth {
    #[serde(flatten)]
    pub filter: HttpExternalAuthFilter,
    /// The deadline of the auth service's answer (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Let requests through when the service cannot be reached in time (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    /// An answer header that names the identity (e.g. `x-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    /// Evaluated in order; the first rule whose expression is true decides.
    pub rules: Vec<AuthorizationRule>,
    /// When no rule matches (default: `Deny` if any rule allows, `Allow` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<RuleAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: RuleAction,
    /// A CEL expression over `identity`, `request` and `mcp`.
    pub when: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RuleAction {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityHeaders {
    /// The identity's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Attribute or claim → header.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpAuthorization {
    /// The authorization servers of the protected-resource metadata (RFC 9728).
    pub authorization_servers: Vec<String>,
    /// The resource identifier tokens must be issued for (RFC 8707); default: the route's URL
    /// as the client reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
}
