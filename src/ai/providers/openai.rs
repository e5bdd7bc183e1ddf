//! OpenAI and OpenAI-compatible providers: paths, headers and error bodies.

use http::HeaderMap;
use serde_json::Value;

use super::{Embeddings, Provider};
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::{openai_chat, openai_stream};
use crate::ir::ai::AiProviderIr;

pub const CHAT_PATH: &str = "/chat/completions";
pub const EMBEDDINGS_PATH: &str = "/embeddings";

/// The message of an OpenAI error body.
pub fn error_message(body: &Value) -> Option<String> {
    body.pointer("/error/message").and_then(Value::as_str).map(str::to_string)
}

/// The OpenAI body of a chat request: the client's own (same format; usage asked for on
/// streams), or translated.
pub fn chat_body(chat: &ParsedChat, model: &str, same: bool) -> Value {
    if !same {
        return openai_chat::build_request(&chat.req, model);
    }
    let mut raw = chat.raw_with_model(model);
    if chat.req.stream {
        // Refused at parsing when not an object; written whole if it were anything else.
        match raw.get_mut("stream_options") {
            Some(Value::Object(o)) => {
                o.insert("include_usage".into(), Value::Bool(true));
            }
            _ => raw["stream_options"] = serde_json::json!({"include_usage": true}),
        }
    }
    raw
}

/// OpenAI and every OpenAI-compatible provider of the catalog.
pub struct OpenAi;

impl Provider for OpenAi {
    fn headers(&self, _format: ClientFormat, client: &HeaderMap, _path: &str, out: &mut HeaderMap) {
        for name in ["openai-organization", "openai-project"] {
            if let Some(v) = client.get(name) {
                out.insert(name, v.clone());
            }
        }
    }

    fn same_format(&self, format: ClientFormat, _model: &str) -> bool {
        // Responses requests are always translated, to OpenAI providers too.
        format == ClientFormat::OpenAi
    }

    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, Value), AiError> {
        Ok((p.chat_path.as_deref().unwrap_or(CHAT_PATH).to_string(), chat_body(chat, model, same)))
    }

    fn stream_decoder(&self, _model: &str, _headers: &HeaderMap) -> Decode {
        Decode::OpenAi(openai_stream::Decoder::default())
    }

    fn parse_response(&self, _model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        openai_chat::parse_response(json)
    }

    fn error_message(&self, json: &Value, _headers: &HeaderMap) -> Option<String> {
        error_message(json)
    }

    fn error_format(&self) -> Option<ClientFormat> {
        Some(ClientFormat::OpenAi)
    }

    fn embeddings(&self, _p: &AiProviderIr, model: &str) -> Embeddings {
        Embeddings::OpenAi { model: model.to_string(), path: EMBEDDINGS_PATH.to_string() }
    }

    fn streams_report_usage(&self, p: &AiProviderIr) -> bool {
        // OpenAI itself reports usage when asked (and Sluice asks); self-hosted compatible
        // servers may not.
        p.catalog == "openai"
    }
}
