//! `AIBackend` (sluice.dev/v1alpha1): one LLM provider, or priority groups of named providers,
//! referenced from HTTPRoute backendRefs (`group: sluice.dev, kind: AIBackend`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::ObjectMeta;

pub const SLUICE_GROUP: &str = "sluice.dev";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiBackend {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: AiBackendSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// Exactly one of `provider` and `groups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiBackendSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<AiProvider>,
    /// Failover order: the first group first; within a group, providers share by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<AiProviderGroup>,
    /// The model names this backend serves (exact, `prefix-*` wildcards, or aliases). Empty:
    /// any model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<AiModel>,
    /// Failover and ejection tuning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<AiFailover>,
    /// Paths besides the AI front doors (chat, messages, responses, embeddings, models,
    /// count_tokens) forwarded to the first provider with its credentials. None by default:
    /// any other path is refused (404).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passthrough: Vec<AiPassthrough>,
}

/// One opening for other paths: a path prefix, and the methods it takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiPassthrough {
    /// A path prefix, whole segments (`/v1/files` opens `/v1/files` and `/v1/files/abc`).
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.startsWith('/')", "message": "pathPrefix starts with /"}]))]
    pub path_prefix: String,
    /// The methods it takes (default: `GET` and `POST`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiProviderGroup {
    pub providers: Vec<AiProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiModel {
    /// A model name, or a pattern ending in `*`.
    pub name: String,
    /// Serve this name as another model of the provider (an alias): `fast` → `gpt-4o-mini`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiFailover {
    /// Consecutive failures that eject a provider (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    /// How long an ejected provider is skipped (default "30s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ejection: Option<String>,
    /// Time to the first response byte before trying the next provider (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout: Option<String>,
    /// How long a streamed answer may send nothing before it is given up (default "10m";
    /// "0s": never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<String>,
    /// The whole request's time to an answer, across every provider tried (default "15m";
    /// "0s": no bound beyond each attempt's `firstByteTimeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiProvider {
    /// Name within the backend (metrics, logs); defaults to the provider type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `openai`, `azure-openai`, `anthropic`, `gemini`, `vertex`, `bedrock`, `mock`, or the
    /// name of an OpenAI-compatible provider of the catalog (`groq`, `mistral`, `ollama`…).
    pub r#type: String,
    /// Share within its group (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The model to use when the request names none, or every request's model when `force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_model: Option<bool>,
    /// Overrides the provider's base URL (scheme, host, port, path prefix): self-hosted and
    /// test servers.
    #[serde(default, rename = "baseURL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self.startsWith('http://') || self.startsWith('https://')", "message": "baseURL starts with http:// or https://"}]))]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AiAuth>,
    /// Provider-specific settings: `apiVersion`, `region`, `deployment`, `project`, `location`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    /// The `mock` provider's behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<AiMock>,
}

/// Credentials; at most one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiAuth {
    /// An API key from a Secret in the backend's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AiSecretKeyRef>,
    /// Forward the client's own credentials unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiSecretKeyRef {
    pub name: String,
    /// The Secret's data key (default `apiKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A local, deterministic provider for examples, demos and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiMock {
    /// Fixed answer; when absent the last user message is echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Number of chunks a streamed answer is cut into (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u32>,
    /// Delay between chunks (default "0s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}
