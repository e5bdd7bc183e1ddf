//! Anthropic: paths, headers and error bodies.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::Provider;
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::{anthropic, anthropic_stream};
use crate::ir::ai::AiProviderIr;

pub const MESSAGES_PATH: &str = "/messages";
pub const COUNT_TOKENS_PATH: &str = "/messages/count_tokens";
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// `anthropic-version` (the client's, or the default) and `anthropic-beta` from an Anthropic client.
fn client_headers(format: ClientFormat, client: &HeaderMap, out: &mut HeaderMap) {
    let version = match format {
        ClientFormat::Anthropic => client.get("anthropic-version").cloned(),
        ClientFormat::OpenAi | ClientFormat::Responses | ClientFormat::Gemini => None,
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

/// The Anthropic Messages body of a chat request: the client's own, or translated.
pub fn chat_body(chat: &ParsedChat, model: &str, same: bool) -> Value {
    if same { chat.raw_with_model(model) } else { anthropic::build_request(&chat.req, model) }
}

/// Anthropic's Messages API.
pub struct Anthropic;

impl Provider for Anthropic {
    fn headers(&self, format: ClientFormat, client: &HeaderMap, _path: &str, out: &mut HeaderMap) {
        client_headers(format, client, out);
    }

    fn same_format(&self, format: ClientFormat, _model: &str) -> bool {
        format == ClientFormat::Anthropic
    }

    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, Bytes), AiError> {
        let mut path = p.chat_path.as_deref().unwrap_or(MESSAGES_PATH).to_string();
        // Same format: the client's query (Claude Code's `?beta=true`) goes with it.
        if same && let Some(q) = chat.query.as_deref().filter(|q| !q.is_empty()) {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(q);
        }
        let body = match same {
            true => chat.sent_for(model, &[]),
            false => super::json_bytes(&chat_body(chat, model, false)),
        };
        Ok((path, body))
    }

    fn stream_decoder(&self, _model: &str, _headers: &HeaderMap) -> Decode {
        Decode::Anthropic(anthropic_stream::Decoder::default())
    }

    fn parse_response(&self, _model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        anthropic::parse_response(json)
    }

    fn error_message(&self, json: &Value, _headers: &HeaderMap) -> Option<String> {
        error_message(json)
    }

    fn error_format(&self) -> Option<ClientFormat> {
        Some(ClientFormat::Anthropic)
    }

    fn count_tokens_path(&self) -> Option<&'static str> {
        Some(COUNT_TOKENS_PATH)
    }
}
