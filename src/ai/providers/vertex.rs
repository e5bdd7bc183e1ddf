//! Google Vertex AI: Gemini models (`publishers/google`, the Gemini wire format) and Anthropic
//! models (`publishers/anthropic`, the Messages format through `rawPredict`), authenticated
//! with an OAuth access token minted from a service-account key.
//!
//! - Which publisher serves a model is read from its name: `claude-*` models are Anthropic's,
//!   every other model Google's.
//! - Anthropic on Vertex takes the Messages body without `model` (it is in the path) and with
//!   `"anthropic_version": "vertex-2023-10-16"` in the body instead of a header; its answers
//!   and streams are Anthropic's own.
//! - The token: a JWT (RS256) signed with the key, claims `iss` = the service account,
//!   `scope` = cloud-platform, `aud` = the key's `token_uri`, exchanged at `token_uri` with
//!   the `urn:ietf:params:oauth:grant-type:jwt-bearer` grant (RFC 7523). Tokens are cached per
//!   key until five minutes before they expire, shared by every provider and every reload
//!   that uses the same key, and minted by one request at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::{Provider, anthropic as anthropic_p, gemini as gemini_p};
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::{anthropic, anthropic_stream, gemini, gemini_stream};
use crate::httpkit::body;
use crate::ir::ai::AiProviderIr;
pub use crate::ir::creds::ServiceAccount;
use crate::proxy::forward::{self, OutboundHead};
use crate::proxy::upstream::Pools;

pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// The publisher of a model on Vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    Google,
    Anthropic,
}

pub fn publisher(model: &str) -> Publisher {
    if model.starts_with("claude") { Publisher::Anthropic } else { Publisher::Google }
}

/// The path under the base URL (`…/projects/{p}/locations/{l}`) for `model`.
pub fn path(model: &str, stream: bool) -> String {
    // `@` (model versions: `claude-sonnet-4-5@20250929`) is a valid path character and stays.
    let encoded = super::path_segment(model, b"@");
    match (publisher(model), stream) {
        (Publisher::Google, false) => format!("/publishers/google/models/{encoded}:generateContent"),
        (Publisher::Google, true) => format!("/publishers/google/models/{encoded}:streamGenerateContent?alt=sse"),
        (Publisher::Anthropic, false) => format!("/publishers/anthropic/models/{encoded}:rawPredict"),
        (Publisher::Anthropic, true) => format!("/publishers/anthropic/models/{encoded}:streamRawPredict"),
    }
}

/// An Anthropic Messages body made fit for Vertex: no model, the Vertex `anthropic_version`.
pub fn anthropic_body(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.remove("model");
        o.insert("anthropic_version".into(), Value::String(ANTHROPIC_VERSION.into()));
    }
    body
}

struct Cached {
    token: HeaderValue,
    renew_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Access tokens, cached per key until [`RENEW_BEFORE`] their expiry and shared by every
/// provider and every reload that uses the same key; owned by the AI pipeline.
#[derive(Default)]
pub struct Tokens {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Tokens {
    fn slot(&self, sa: &ServiceAccount) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(sa.cache_key.clone()).or_default().clone()
    }

    /// `Authorization: Bearer <token>` for the account: cached, or minted now (by one request
    /// at a time per key).
    pub async fn authorization(&self, pools: &Pools, sa: &ServiceAccount) -> Result<HeaderValue, AiError> {
        let slot = self.slot(sa);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.renew_at > Instant::now()) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = mint(pools, sa).await?;
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| AiError::upstream(format!("the token endpoint {} sent an unusable token", sa.token_uri)))?;
        let renew_in = lifetime.saturating_sub(RENEW_BEFORE);
        *cached = Some(Cached { token: value.clone(), renew_at: Instant::now() + renew_in });
        Ok(value)
    }
}

/// Exchanges a fresh assertion for an access token and its lifetime.
async fn mint(pools: &Pools, sa: &ServiceAccount) -> Result<(String, Duration), AiError> {
    let fail =
        |m: String| AiError::upstream(format!("minting a Vertex AI access token for {} failed: {m}", sa.client_email));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let assertion = sa.assertion(now).map_err(fail)?;
    let form = format!("grant_type={}&assertion={assertion}", GRANT_TYPE.replace(':', "%3A"));
    let ep = &sa.token_endpoint;
    let uri_path = if ep.path_prefix.is_empty() { "/".to_string() } else { ep.path_prefix.clone() };
    let head = OutboundHead {
        method: Method::POST,
        path_and_query: uri_path.parse().map_err(|e| fail(format!("token_uri path: {e}")))?,
        authority: ep.authority.clone(),
        headers: HeaderMap::new(),
        upgrade: false,
    };
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
    let resp = forward::send(pools, &ep.upstream, &head, headers, body::full(Bytes::from(form)))
        .await
        .map_err(|e| fail(e.message))?;
    let status = resp.status();
    let bytes =
        body::read_limited(resp.into_body(), 64 * 1024).await.map_err(|e| fail(format!("reading the answer: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        let reason = [v.get("error"), v.get("error_description")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(": ");
        return Err(fail(format!("{} answered {}: {reason}", sa.token_uri, status.as_u16())));
    }
    let token = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| fail(format!("{} sent no access_token", sa.token_uri)))?;
    Ok((token.to_string(), lifetime_of(&v)))
}

/// A token answer's lifetime. Google's tokens live an hour; a lifetime out of reason is bounded
/// (a minute to a day), so `now + lifetime` cannot overflow and a huge value cannot keep a token
/// for years.
fn lifetime_of(answer: &Value) -> Duration {
    Duration::from_secs(answer.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).clamp(60, 86_400))
}

/// Google Vertex AI: Gemini models in Gemini's format, Claude models in Anthropic's.
pub struct Vertex;

impl Provider for Vertex {
    fn headers(&self, format: ClientFormat, client: &HeaderMap, _path: &str, out: &mut HeaderMap) {
        if format == ClientFormat::Anthropic
            && let Some(v) = client.get("anthropic-beta")
        {
            out.insert("anthropic-beta", v.clone());
        }
    }

    fn same_format(&self, format: ClientFormat, model: &str) -> bool {
        format == ClientFormat::Anthropic && publisher(model) == Publisher::Anthropic
    }

    fn chat_request(
        &self,
        _p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, bytes::Bytes), AiError> {
        let body = match publisher(model) {
            Publisher::Google => gemini::build_request(&chat.req),
            Publisher::Anthropic => anthropic_body(anthropic_p::chat_body(chat, model, same)),
        };
        Ok((path(model, chat.req.stream), super::json_bytes(&body)))
    }

    fn stream_decoder(&self, model: &str, _headers: &HeaderMap) -> Decode {
        match publisher(model) {
            Publisher::Google => Decode::Gemini(gemini_stream::Decoder::default()),
            Publisher::Anthropic => Decode::Anthropic(anthropic_stream::Decoder::default()),
        }
    }

    fn parse_response(&self, model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        match publisher(model) {
            Publisher::Google => gemini::parse_response(json),
            Publisher::Anthropic => anthropic::parse_response(json),
        }
    }

    fn error_message(&self, json: &Value, _headers: &HeaderMap) -> Option<String> {
        // Vertex answers Google's error shape; Claude models there may answer Anthropic's.
        gemini_p::error_message(json).or_else(|| anthropic_p::error_message(json))
    }

    fn retry_after(&self, json: &Value) -> Option<Duration> {
        gemini_p::retry_delay(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_publisher() {
        assert_eq!(path("gemini-2.5-pro", false), "/publishers/google/models/gemini-2.5-pro:generateContent");
        assert_eq!(
            path("gemini-2.5-pro", true),
            "/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            path("claude-sonnet-4-5@20250929", false),
            "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
        );
        assert_eq!(path("claude-3-haiku", true), "/publishers/anthropic/models/claude-3-haiku:streamRawPredict");
    }

    #[test]
    fn token_lifetimes_are_read_within_a_minute_and_a_day() {
        let of = |v: Value| lifetime_of(&v).as_secs();
        assert_eq!(of(serde_json::json!({"expires_in": 3599})), 3599);
        assert_eq!(of(serde_json::json!({})), 3600, "absent: Google's hour");
        assert_eq!(of(serde_json::json!({"expires_in": "soon"})), 3600, "not a number: Google's hour");
        assert_eq!(of(serde_json::json!({"expires_in": -5})), 3600, "negative: Google's hour");
        assert_eq!(of(serde_json::json!({"expires_in": 0})), 60);
        assert_eq!(of(serde_json::json!({"expires_in": u64::MAX})), 86_400);
        // What the cache does with it: once an overflow (a panic), now a day at most.
        let renew =
            Instant::now() + lifetime_of(&serde_json::json!({"expires_in": u64::MAX})).saturating_sub(RENEW_BEFORE);
        assert!(renew <= Instant::now() + Duration::from_secs(86_400));
    }

    #[test]
    fn anthropic_bodies_lose_the_model_and_gain_the_version() {
        let b = anthropic_body(serde_json::json!({"model": "claude-x", "max_tokens": 5, "messages": []}));
        assert_eq!(b, serde_json::json!({"max_tokens": 5, "messages": [], "anthropic_version": ANTHROPIC_VERSION}));
    }
}
