//! Providers: one file per wire format, plus the HTTP call they share.

pub mod anthropic;
pub mod azure_openai;
pub mod gemini;
pub mod mock;
pub mod openai;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::errors::AiError;
use super::frontdoor::ClientFormat;
use crate::ir::ai::{AiProviderIr, ProviderKind};
use crate::proxy::body;
use crate::proxy::forward::{self, OutboundHead};
use crate::proxy::upstream::Pools;

/// Largest provider response read whole (non-streamed answers and error bodies).
pub const MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// Sends one request to a provider and returns its response when it is a success. A failure
/// status becomes an [`AiError`] carrying the provider's own message.
pub async fn call(
    pools: &Pools,
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
    match p.kind {
        ProviderKind::OpenAi => {
            openai::auth_headers(&p.auth, client, &mut headers);
            openai::client_headers(format, client, &mut headers);
        }
        ProviderKind::AzureOpenAi => azure_openai::auth_headers(&p.auth, client, &mut headers),
        ProviderKind::Anthropic => {
            anthropic::auth_headers(&p.auth, client, &mut headers);
            anthropic::client_headers(format, client, &mut headers);
        }
        ProviderKind::Gemini => gemini::auth_headers(&p.auth, client, &mut headers),
        ProviderKind::Mock => {}
    }
    let path_and_query = format!("{}{path}", ep.path_prefix)
        .parse()
        .map_err(|e| AiError::internal(format!("invalid provider path {path:?}: {e}")))?;
    let head = OutboundHead {
        method,
        path_and_query,
        authority: ep.authority.clone(),
        headers: HeaderMap::new(),
        upgrade: false,
    };
    let b = if body.is_empty() { body::empty() } else { body::full(body) };
    let resp = forward::send(pools, &ep.upstream, &head, headers, b)
        .await
        .map_err(|e| AiError::upstream(format!("provider {} failed: {}", p.id, e.message)))?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    Err(provider_error(p, resp).await)
}

async fn provider_error(p: &AiProviderIr, resp: Response<Incoming>) -> AiError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = read_limited(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = match p.kind {
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi => openai::error_message(&json),
        ProviderKind::Anthropic => anthropic::error_message(&json),
        ProviderKind::Gemini => gemini::error_message(&json),
        ProviderKind::Mock => None,
    }
    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
    let message = format!("provider {} answered {}: {message}", p.id, status.as_u16());
    let retry_after = match p.kind {
        ProviderKind::Gemini => retry_after.or_else(|| gemini::retry_delay(&json)),
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi | ProviderKind::Anthropic | ProviderKind::Mock => retry_after,
    };
    let mut err = AiError::from_provider(status, message, retry_after);
    // A client of the provider's own format gets its error body untouched.
    let own_format = match p.kind {
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi => Some(ClientFormat::OpenAi),
        ProviderKind::Anthropic => Some(ClientFormat::Anthropic),
        ProviderKind::Gemini | ProviderKind::Mock => None,
    };
    if let (Some(f), true) = (own_format, json.get("error").is_some()) {
        err.provider_body = Some((f, json));
    }
    err
}

/// Reads a whole body, refusing one larger than `limit`.
pub async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, AiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(AiError::new(
            super::errors::ErrorKind::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {limit} bytes"),
        )),
        Err(e) => Err(AiError::upstream(format!("reading a body failed: {e}"))),
    }
}
