//! AI backends in the snapshot: providers in failover groups, the models served, and how to
//! reach and authenticate to each provider.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Serialize;

use super::ObjectKey;
use super::backend::Upstream;
pub use crate::catalog::WireFormat;

#[derive(Debug, Serialize)]
pub struct AiBackendIr {
    pub key: ObjectKey,
    /// Failover order: groups in turn; providers of a group by weight.
    pub groups: Vec<Vec<Arc<AiProviderIr>>>,
    pub models: Vec<ModelRule>,
    pub consecutive_failures: u32,
    #[serde(with = "secs")]
    pub ejection: Duration,
    #[serde(skip)]
    pub first_byte_timeout: Option<Duration>,
    /// A streamed answer that sends nothing this long is given up (`None`: never).
    #[serde(skip)]
    pub stream_idle_timeout: Option<Duration>,
    /// Time to an answer across every attempt of a request (`None`: each attempt's own bound).
    #[serde(skip)]
    pub request_timeout: Option<Duration>,
    /// Other paths forwarded: a prefix and its methods.
    pub passthrough: Vec<PassthroughRule>,
}

/// A path prefix (whole segments) and the methods forwarded under it.
#[derive(Debug, Clone, Serialize)]
pub struct PassthroughRule {
    pub path_prefix: String,
    pub methods: Vec<String>,
}

impl PassthroughRule {
    pub fn allows(&self, method: &http::Method, path: &str) -> bool {
        let prefix = self.path_prefix.trim_end_matches('/');
        let under = path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        under && self.methods.iter().any(|m| m == method.as_str())
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// A model name the backend serves: exact, or a prefix when it ends in `*`; optionally an
/// alias for another model name.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRule {
    pub pattern: String,
    pub target: Option<String>,
}

impl ModelRule {
    pub fn matches(&self, model: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => self.pattern == model,
        }
    }
}

impl AiBackendIr {
    /// Whether a request outside the front doors is forwarded.
    pub fn passes(&self, method: &http::Method, path: &str) -> bool {
        self.passthrough.iter().any(|r| r.allows(method, path))
    }

    /// The model name to send when this backend serves `model`, or `None` when it does not.
    /// A backend that lists no models serves any.
    pub fn serves(&self, model: &str) -> Option<String> {
        if self.models.is_empty() {
            return Some(model.to_string());
        }
        self.models.iter().find(|m| m.matches(model)).map(|m| m.target.clone().unwrap_or_else(|| model.to_string()))
    }

    /// Names for `GET /v1/models`: exact names and aliases (patterns are not listed).
    pub fn listed_models(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.models.iter().filter(|m| !m.pattern.ends_with('*')).map(|m| m.pattern.clone()).collect();
        if out.is_empty() {
            for p in self.groups.iter().flatten() {
                if let Some(m) = &p.model {
                    out.push(m.clone());
                }
            }
        }
        out
    }
}

#[derive(Debug, Serialize)]
pub struct AiProviderIr {
    /// `namespace/backend/provider`: metrics, logs and ejection state.
    pub id: Arc<str>,
    pub kind: WireFormat,
    /// The catalog entry (`openai`, `groq`…), for prices.
    pub catalog: String,
    pub weight: u32,
    pub model: Option<String>,
    pub force_model: bool,
    /// The catalog's chat path when it differs from the wire format's usual one (for Gemini:
    /// `generateContent`, with `{model}`).
    pub chat_path: Option<String>,
    /// The catalog's streaming path when it differs (Gemini's `streamGenerateContent`).
    pub stream_path: Option<String>,
    /// Azure OpenAI: the deployment sent as the model (settings `deployment`); absent, the
    /// request's model names the deployment.
    pub deployment: Option<String>,
    /// Azure OpenAI: the `api-version` query parameter (settings `apiVersion`), if any.
    pub api_version: Option<String>,
    pub endpoint: Option<AiEndpoint>,
    #[serde(skip)]
    pub auth: AiAuth,
    pub mock: MockSettings,
}

impl AiProviderIr {
    /// The catalog's path template for a chat request (streamed or not), if it has one.
    pub fn path_template(&self, stream: bool) -> Option<&str> {
        if stream { self.stream_path.as_deref() } else { self.chat_path.as_deref() }
    }
}

/// Where a provider listens: a base URL resolved to an upstream.
#[derive(Debug, Serialize)]
pub struct AiEndpoint {
    pub upstream: Arc<Upstream>,
    pub scheme: &'static str,
    /// Host header / `:authority`.
    pub authority: String,
    /// Path prefix of the base URL, without trailing slash (`/v1`, or empty).
    pub path_prefix: String,
}

#[derive(Debug, Clone, Default)]
pub enum AiAuth {
    #[default]
    None,
    /// `Authorization: Bearer <key>`.
    Bearer(HeaderValue),
    /// A header of the provider's choosing (`x-api-key: <key>`).
    Header(HeaderName, HeaderValue),
    /// The client's own key goes through, wherever the client sent it, to where the provider
    /// takes it.
    Passthrough(KeyPlace),
    /// Bedrock: requests signed with SigV4.
    AwsSigV4(Arc<super::creds::AwsKeys>),
    /// Vertex AI: OAuth access tokens minted from a service-account key.
    GcpServiceAccount(Arc<super::creds::ServiceAccount>),
}

/// Where a provider takes a client's key.
#[derive(Debug, Clone, Default)]
pub struct KeyPlace {
    /// The provider's own header (`x-api-key`, `api-key`…); `None`: `Authorization: Bearer`.
    pub header: Option<HeaderName>,
    /// The provider also takes `Authorization: Bearer` as it is (Azure: keys or Entra ID
    /// tokens).
    pub bearer_too: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MockSettings {
    pub content: Option<String>,
    pub chunks: u32,
    #[serde(skip)]
    pub interval: Duration,
}
