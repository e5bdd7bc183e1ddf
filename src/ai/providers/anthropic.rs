//! Anthropic: paths, headers and error bodies.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::ai::frontdoor::ClientFormat;
use crate::ir::ai::AiAuth;

pub const MESSAGES_PATH: &str = "/messages";
pub const COUNT_TOKENS_PATH: &str = "/messages/count_tokens";
pub const DEFAULT_VERSION: &str = "2023-06-01";

pub fn auth_headers(auth: &AiAuth, client: &HeaderMap, out: &mut HeaderMap) {
    let key_header = HeaderName::from_static("x-api-key");
    match auth {
        // Signing and minted tokens belong to Bedrock and Vertex, never configured here.
        AiAuth::None | AiAuth::AwsSigV4(_) | AiAuth::GcpServiceAccount(_) => {}
        AiAuth::Bearer(v) => {
            // A key configured for Bearer use still goes in x-api-key for Anthropic.
            if let Some(key) = v.to_str().ok().and_then(|s| s.strip_prefix("Bearer "))
                && let Ok(v) = HeaderValue::from_str(key)
            {
                out.insert(key_header, v);
            }
        }
        AiAuth::Header(name, v) => {
            out.insert(name.clone(), v.clone());
        }
        AiAuth::Passthrough => {
            if let Some(v) = client.get(&key_header) {
                out.insert(key_header, v.clone());
            } else if let Some(key) = client
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.strip_prefix("Bearer "))
                && let Ok(v) = HeaderValue::from_str(key)
            {
                out.insert(key_header, v);
            }
        }
    }
}

/// `anthropic-version` (the client's, or the default) and `anthropic-beta` from an Anthropic client.
pub fn client_headers(format: ClientFormat, client: &HeaderMap, out: &mut HeaderMap) {
    let version = match format {
        ClientFormat::Anthropic => client.get("anthropic-version").cloned(),
        ClientFormat::OpenAi | ClientFormat::Responses => None,
    };
    out.insert("anthropic-version", version.unwrap_or(HeaderValue::from_static(DEFAULT_VERSION)));
    if format == ClientFormat::Anthropic
        && let Some(v) = client.get("anthropic-beta")
    {
        out.insert("anthropic-beta", v.clone());
    }
}

pub fn error_message(body: &Value) -> Option<String> {
    body.pointer("/error/message").and_then(Value::as_str).map(str::to_string)
}
