//! Providers: one file per wire format, each implementing [`Provider`], plus the HTTP call
//! they share. Adding a wire format is one file here (and its `wire/` codecs) plus fixtures;
//! [`of`] is the one place a [`WireFormat`] picks its implementation.

pub mod anthropic;
pub mod auth;
pub mod azure_openai;
pub mod bedrock;
pub mod gemini;
pub mod mock;
pub mod openai;
pub mod vertex;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use super::AiPipeline;
use super::canonical::ChatResponse;
use super::chat::ParsedChat;
use super::errors::AiError;
use super::frontdoor::ClientFormat;
use super::stream::Decode;
use crate::httpkit::body;
use crate::ir::ai::{AiAuth, AiProviderIr, WireFormat};
use crate::proxy::forward::{self, OutboundHead};

/// What one wire format does: everything that differs between providers, behind one seam.
pub trait Provider: Sync {
    /// Headers of the format besides credentials (API versions, betas), for a request to `path`.
    fn headers(&self, _format: ClientFormat, _client: &HeaderMap, _path: &str, _out: &mut HeaderMap) {}

    /// The model name to send for `model` (Azure: the deployment).
    fn model(&self, _p: &AiProviderIr, model: String) -> String {
        model
    }

    /// Whether a client of `format` asking for `model` speaks the provider's own format: then
    /// bodies and events pass through untouched but for the model.
    fn same_format(&self, format: ClientFormat, model: &str) -> bool;

    /// The path and body of a chat request (`same`: as [`Provider::same_format`] said).
    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, Bytes), AiError>;

    /// The decoder of the provider's streamed answers (`headers`: the response's).
    fn stream_decoder(&self, model: &str, headers: &HeaderMap) -> Decode;

    /// A whole (non-streamed) answer.
    fn parse_response(&self, model: &str, json: &Value) -> Result<ChatResponse, AiError>;

    /// The message of an error body.
    fn error_message(&self, json: &Value, headers: &HeaderMap) -> Option<String>;

    /// When to come back, if the error body says (besides `Retry-After`).
    fn retry_after(&self, _json: &Value) -> Option<Duration> {
        None
    }

    /// The client format whose error bodies are the provider's own (passed through untouched).
    fn error_format(&self) -> Option<ClientFormat> {
        None
    }

    /// How `POST /v1/embeddings` reaches the provider.
    fn embeddings(&self, _p: &AiProviderIr, _model: &str) -> Embeddings {
        Embeddings::Unsupported
    }

    /// The provider's token-counting path (Anthropic's `count_tokens`); `None`: Sluice
    /// estimates.
    fn count_tokens_path(&self) -> Option<&'static str> {
        None
    }

    /// Whether the provider's streams always report usage; if not, the text is kept for an
    /// estimate.
    fn streams_report_usage(&self, _p: &AiProviderIr) -> bool {
        true
    }

    /// Whether the provider answers locally (the mock), with no HTTP call.
    fn local(&self) -> bool {
        false
    }
}

/// How an embeddings request goes to a provider.
pub enum Embeddings {
    /// The OpenAI request as it is, but for the model, to this path.
    OpenAi {
        model: String,
        path: String,
    },
    /// Translated to Gemini's `batchEmbedContents`.
    Gemini,
    Unsupported,
}

/// The implementation of a wire format.
/// A JSON body's bytes.
pub fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

pub fn of(format: WireFormat) -> &'static dyn Provider {
    match format {
        WireFormat::OpenAi => &openai::OpenAi,
        WireFormat::AzureOpenAi => &azure_openai::AzureOpenAi,
        WireFormat::Anthropic => &anthropic::Anthropic,
        WireFormat::Gemini => &gemini::Gemini,
        WireFormat::Vertex => &vertex::Vertex,
        WireFormat::Bedrock => &bedrock::Bedrock,
        WireFormat::Mock => &mock::Mock,
    }
}

/// `s` percent-encoded to stay within one path segment: RFC 3986's unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`) and those of `also` are kept, every other byte is
/// `%XX`. Model names chosen by clients go through this before they reach a provider's path.
pub fn path_segment(s: &str, also: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || also.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Largest provider response read whole (non-streamed answers and error bodies).
pub const MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// The W3C trace context headers, sent on to providers.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// Sends one request to a provider and returns its response when it is a success. A failure
/// status becomes an [`AiError`] carrying the provider's own message.
pub async fn call(
    pipe: &AiPipeline,
    p: &AiProviderIr,
    method: Method,
    path: &str,
    body: Bytes,
    client: &HeaderMap,
    format: ClientFormat,
) -> Result<Response<Incoming>, AiError> {
    let Some(ep) = &p.endpoint else {
        return Err(AiError::internal(format!("provider {} has no endpoint", p.id)));
    };
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    let provider = of(p.kind);
    provider.headers(format, client, path, &mut headers);
    // W3C trace context goes on: the gateway's span when traces are on, else the client's.
    for name in [TRACEPARENT, TRACESTATE] {
        if let Some(v) = client.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    if !matches!(p.auth, AiAuth::Passthrough(_)) {
        // The client's organization and project belong with the client's own key: with the
        // operator's key they would bill or scope the operator's account as the client says.
        headers.remove("openai-organization");
        headers.remove("openai-project");
    }
    auth::apply(pipe, &p.auth, client, &mut headers).await?;
    let full_path = format!("{}{path}", ep.path_prefix);
    if let AiAuth::AwsSigV4(keys) = &p.auth {
        // Signed last: every header sent must be in place, `host` included.
        if let Ok(host) = HeaderValue::from_str(&ep.authority) {
            headers.insert(http::header::HOST, host);
        }
        let url = format!("{}://{}{full_path}", ep.scheme, ep.authority);
        bedrock::sign_request(keys, method.as_str(), &url, &mut headers, &body)?;
    }
    let path_and_query =
        full_path.parse().map_err(|e| AiError::internal(format!("invalid provider path {path:?}: {e}")))?;
    let head = OutboundHead {
        method,
        path_and_query,
        authority: ep.authority.clone(),
        headers: HeaderMap::new(),
        upgrade: false,
    };
    let b = if body.is_empty() { body::empty() } else { body::full(body) };
    let resp = forward::send(&pipe.pools, &ep.upstream, &head, headers, b)
        .await
        .map_err(|e| AiError::upstream(format!("provider {} failed: {}", p.id, e.message)))?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    Err(provider_error(p, resp).await)
}

async fn provider_error(p: &AiProviderIr, resp: Response<Incoming>) -> AiError {
    let status = resp.status();
    let headers = resp.headers().clone();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(super::state::MAX_RETRY_AFTER));
    let bytes = read_limited(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let provider = of(p.kind);
    let message = provider
        .error_message(&json, &headers)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
    let message = format!("provider {} answered {}: {message}", p.id, status.as_u16());
    let retry_after = retry_after.or_else(|| provider.retry_after(&json)).map(|d| d.min(super::state::MAX_RETRY_AFTER));
    let mut err = AiError::from_provider(status, message, retry_after);
    // A client of the provider's own format gets its error body untouched.
    let own_format = provider.error_format();
    if let (Some(f), true) = (own_format, json.get("error").is_some()) {
        err.provider_body = Some((f, json));
    }
    err
}

/// Reads a whole body, refusing one larger than `limit` (413 in the client's format).
pub async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, AiError> {
    body::read_limited(body, limit).await.map_err(|e| match e {
        body::ReadError::TooLarge { .. } => {
            AiError::new(super::errors::ErrorKind::TooLarge, StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        body::ReadError::Failed(_) => AiError::upstream(e.to_string()),
    })
}
