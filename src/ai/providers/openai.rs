//! OpenAI and OpenAI-compatible providers: paths, headers and error bodies.

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::ai::frontdoor::ClientFormat;
use crate::ir::ai::AiAuth;

pub const CHAT_PATH: &str = "/chat/completions";
pub const EMBEDDINGS_PATH: &str = "/embeddings";

/// Credentials for an OpenAI-style provider.
pub fn auth_headers(auth: &AiAuth, client: &HeaderMap, out: &mut HeaderMap) {
    match auth {
        // Signing and minted tokens belong to Bedrock and Vertex, never configured here.
        AiAuth::None | AiAuth::AwsSigV4(_) | AiAuth::GcpServiceAccount(_) => {}
        AiAuth::Bearer(v) => {
            out.insert(http::header::AUTHORIZATION, v.clone());
        }
        AiAuth::Header(name, v) => {
            out.insert(name.clone(), v.clone());
        }
        AiAuth::Passthrough => {
            if let Some(v) = client.get(http::header::AUTHORIZATION) {
                out.insert(http::header::AUTHORIZATION, v.clone());
            } else if let Some(key) = client.get("x-api-key").and_then(|v| v.to_str().ok())
                && let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}"))
            {
                out.insert(http::header::AUTHORIZATION, v);
            }
        }
    }
    for name in ["openai-organization", "openai-project"] {
        if let Some(v) = client.get(name) {
            out.insert(name, v.clone());
        }
    }
}

/// The message of an OpenAI error body.
pub fn error_message(body: &Value) -> Option<String> {
    body.pointer("/error/message").and_then(Value::as_str).map(str::to_string)
}

/// Extra request headers for the client format (none for OpenAI).
pub fn client_headers(_format: ClientFormat, _client: &HeaderMap, _out: &mut HeaderMap) {}
