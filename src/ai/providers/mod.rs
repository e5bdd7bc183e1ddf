//! Providers: one file per wire format, plus the HTTP call they share.

pub mod anthropic;
pub mod azure_openai;
pub mod bedrock;
pub mod gemini;
pub mod mock;
pub mod openai;
pub mod vertex;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::AiPipeline;
use super::errors::AiError;
use super::frontdoor::ClientFormat;
use crate::httpkit::body;
use crate::ir::ai::{AiAuth, AiProviderIr, WireFormat};
use crate::proxy::forward::{self, OutboundHead};

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
    match p.kind {
        WireFormat::OpenAi => {
            openai::auth_headers(&p.auth, client, &mut headers);
            openai::client_headers(format, client, &mut headers);
        }
        WireFormat::AzureOpenAi => azure_openai::auth_headers(&p.auth, client, &mut headers),
        WireFormat::Anthropic => {
            anthropic::auth_headers(&p.auth, client, &mut headers);
            anthropic::client_headers(format, client, &mut headers);
        }
        WireFormat::Gemini => gemini::auth_headers(&p.auth, client, &mut headers),
        WireFormat::Vertex => {
            bearer_auth(pipe, &p.auth, client, &mut headers).await?;
            if format == ClientFormat::Anthropic
                && let Some(v) = client.get("anthropic-beta")
            {
                headers.insert("anthropic-beta", v.clone());
            }
        }
        WireFormat::Bedrock => {
            let accept =
                if path.ends_with("/converse-stream") { bedrock::EVENT_STREAM_TYPE } else { "application/json" };
            headers.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
            bearer_auth(pipe, &p.auth, client, &mut headers).await?;
        }
        WireFormat::Mock => {}
    }
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

/// `Authorization` for providers that take bearer tokens only: a configured key, a token minted
/// from a service account, or the client's own bearer token. SigV4 is applied later, once the
/// request is complete.
async fn bearer_auth(pipe: &AiPipeline, auth: &AiAuth, client: &HeaderMap, out: &mut HeaderMap) -> Result<(), AiError> {
    let value = match auth {
        AiAuth::None | AiAuth::AwsSigV4(_) => return Ok(()),
        AiAuth::Bearer(v) => v.clone(),
        AiAuth::Header(name, v) => {
            out.insert(name.clone(), v.clone());
            return Ok(());
        }
        AiAuth::GcpServiceAccount(sa) => pipe.tokens.authorization(&pipe.pools, sa).await?,
        AiAuth::Passthrough => match client.get(http::header::AUTHORIZATION) {
            Some(v) => v.clone(),
            None => return Ok(()),
        },
    };
    out.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

async fn provider_error(p: &AiProviderIr, resp: Response<Incoming>) -> AiError {
    let status = resp.status();
    let headers = resp.headers().clone();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = read_limited(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = match p.kind {
        WireFormat::OpenAi | WireFormat::AzureOpenAi => openai::error_message(&json),
        WireFormat::Anthropic => anthropic::error_message(&json),
        // Vertex answers Google's error shape; Claude models there may answer Anthropic's.
        WireFormat::Gemini => gemini::error_message(&json),
        WireFormat::Vertex => gemini::error_message(&json).or_else(|| anthropic::error_message(&json)),
        WireFormat::Bedrock => bedrock::error_message(&json, &headers),
        WireFormat::Mock => None,
    }
    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
    let message = format!("provider {} answered {}: {message}", p.id, status.as_u16());
    let retry_after = match p.kind {
        WireFormat::Gemini | WireFormat::Vertex => retry_after.or_else(|| gemini::retry_delay(&json)),
        WireFormat::OpenAi
        | WireFormat::AzureOpenAi
        | WireFormat::Anthropic
        | WireFormat::Bedrock
        | WireFormat::Mock => retry_after,
    };
    let mut err = AiError::from_provider(status, message, retry_after);
    // A client of the provider's own format gets its error body untouched.
    let own_format = match p.kind {
        WireFormat::OpenAi | WireFormat::AzureOpenAi => Some(ClientFormat::OpenAi),
        WireFormat::Anthropic => Some(ClientFormat::Anthropic),
        WireFormat::Gemini | WireFormat::Vertex | WireFormat::Bedrock | WireFormat::Mock => None,
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
