//! Google Gemini API: paths, headers and error bodies.
//!
//! The model is part of the path (`/models/{model}:generateContent`); the key goes in
//! `x-goog-api-key`. Errors are `{"error": {"code", "message", "status", "details"}}`, where a
//! 429 says when to come back in a `google.rpc.RetryInfo` detail rather than `Retry-After`.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use super::{Embeddings, Provider};
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::{gemini, gemini_stream};
use crate::ir::ai::AiProviderIr;

pub const GENERATE_PATH: &str = "/models/{model}:generateContent";
pub const STREAM_PATH: &str = "/models/{model}:streamGenerateContent?alt=sse";

/// `path` (a catalog template with `{model}`, or the default) with the model filled in. The
/// model is percent-encoded so that no client-chosen name can leave its path segment; a
/// leading `models/` (the API's resource name) is accepted and removed.
pub fn path(template: Option<&str>, model: &str, stream: bool) -> String {
    let template = match (template, stream) {
        (Some(t), _) => t,
        (None, false) => GENERATE_PATH,
        (None, true) => STREAM_PATH,
    };
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut out = template.replace("{model}", &super::path_segment(model, b""));
    // Server-sent events are asked for with `alt=sse`; without it the API streams a JSON array.
    if stream && !out.contains("alt=sse") {
        out.push_str(if out.contains('?') { "&alt=sse" } else { "?alt=sse" });
    }
    out
}

/// `STATUS: message` from a Gemini error body.
pub fn error_message(body: &Value) -> Option<String> {
    let message = body.pointer("/error/message").and_then(Value::as_str)?;
    Some(match body.pointer("/error/status").and_then(Value::as_str) {
        Some(status) => format!("{status}: {message}"),
        None => message.to_string(),
    })
}

/// The delay of a `google.rpc.RetryInfo` detail (`"retryDelay": "30s"`), if any.
pub fn retry_delay(body: &Value) -> Option<Duration> {
    body.pointer("/error/details")?.as_array()?.iter().find_map(|d| {
        let ty = d.get("@type").and_then(Value::as_str)?;
        if !ty.ends_with("google.rpc.RetryInfo") {
            return None;
        }
        let secs: f64 = d.get("retryDelay")?.as_str()?.strip_suffix('s')?.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
    })
}

/// Google's Gemini API.
pub struct Gemini;

impl Provider for Gemini {
    fn same_format(&self, format: ClientFormat, _model: &str) -> bool {
        format == ClientFormat::Gemini
    }

    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, bytes::Bytes), AiError> {
        let stream = chat.req.stream;
        let template = p.path_template(stream);
        // Same format: the client's body as it came (the model is in the path).
        let body = if same { chat.raw().to_string() } else { gemini::build_request(&chat.req).to_string() };
        Ok((path(template, model, stream), body.into()))
    }

    fn stream_decoder(&self, _model: &str, _headers: &HeaderMap) -> Decode {
        Decode::Gemini(gemini_stream::Decoder::default())
    }

    fn parse_response(&self, _model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        gemini::parse_response(json)
    }

    fn error_message(&self, json: &Value, _headers: &HeaderMap) -> Option<String> {
        error_message(json)
    }

    fn retry_after(&self, json: &Value) -> Option<Duration> {
        retry_delay(json)
    }

    fn error_format(&self) -> Option<ClientFormat> {
        Some(ClientFormat::Gemini)
    }

    fn embeddings(&self, _p: &AiProviderIr, _model: &str) -> Embeddings {
        Embeddings::Gemini
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_model() {
        assert_eq!(path(None, "gemini-2.5-flash", false), "/models/gemini-2.5-flash:generateContent");
        assert_eq!(path(None, "models/gemini-2.5-pro", true), "/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
        assert_eq!(path(None, "../x?y", false), "/models/..%2Fx%3Fy:generateContent");
        assert_eq!(
            path(Some("/publishers/google/models/{model}:streamGenerateContent"), "g", true),
            "/publishers/google/models/g:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn retry_info_is_read() {
        let body = serde_json::json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}});
        assert_eq!(retry_delay(&body), Some(Duration::from_secs(12)));
        assert_eq!(error_message(&body).as_deref(), Some("RESOURCE_EXHAUSTED: quota"));
    }
}
