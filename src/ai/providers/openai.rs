//! OpenAI and OpenAI-compatible providers: paths, headers and error bodies.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use super::{Embeddings, Provider, json_bytes};
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
pub fn chat_body(chat: &ParsedChat, model: &str, same: bool) -> Bytes {
    if !same {
        return json_bytes(&openai_chat::build_request(&chat.req, model));
    }
    if !chat.req.stream {
        return chat.sent_for(model, &[]);
    }
    // Refused at parsing when not an object; written whole when absent or null.
    let options = match chat.sent_member("stream_options") {
        Some(Value::Object(mut o)) => {
            o.insert("include_usage".into(), Value::Bool(true));
            Value::Object(o)
        }
        _ => serde_json::json!({"include_usage": true}),
    };
    chat.sent_for(model, &[("stream_options", &json_bytes(&options))])
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
    ) -> Result<(String, Bytes), AiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::chat;

    fn sent(body: &str) -> String {
        let parsed = chat::parse(ClientFormat::OpenAi, Bytes::from(body.to_string()), None).expect("a request");
        String::from_utf8(chat_body(&parsed, "gpt-4o-2024-08-06", true).to_vec()).unwrap()
    }

    #[test]
    fn a_same_format_body_goes_as_sent_but_for_the_model() {
        let body = r#"{ "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "x_vendor": {"k": 1e3} }"#;
        let want = body.replace(r#""gpt-4o""#, r#""gpt-4o-2024-08-06""#);
        assert_eq!(sent(body), want);
    }

    #[test]
    fn a_same_format_stream_asks_for_usage_and_keeps_the_clients_options() {
        let body = r#"{"model":"m","stream":true,"messages":[],"stream_options":{"include_obfuscation":false}}"#;
        let out: Value = serde_json::from_str(&sent(body)).unwrap();
        assert_eq!(out["stream_options"], serde_json::json!({"include_obfuscation": false, "include_usage": true}));
        assert_eq!(out["model"], "gpt-4o-2024-08-06");
        let out: Value = serde_json::from_str(&sent(r#"{"model":"m","stream":true,"messages":[]}"#)).unwrap();
        assert_eq!(out["stream_options"], serde_json::json!({"include_usage": true}));
    }

    #[test]
    fn the_direct_parse_refuses_what_the_tree_parse_refuses_with_the_same_error() {
        for (body, param) in [
            (r#"{"model":"m","messages":[],"stream_options":[true]}"#, "stream_options"),
            (r#"{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":"x"}"#, "max_tokens"),
            (r#"{"messages":[]}"#, "model"),
        ] {
            let direct = chat::parse(ClientFormat::OpenAi, Bytes::from(body.to_string()), None).err().unwrap();
            let tree =
                chat::parse_value(ClientFormat::OpenAi, serde_json::from_str(body).unwrap(), None).err().unwrap();
            assert_eq!((&direct.param, &direct.message), (&tree.param, &tree.message), "{body}");
            assert_eq!(direct.param.as_deref(), Some(param), "{body}");
        }
        // A repeated key: the tree keeps the last, as before.
        let parsed = chat::parse(ClientFormat::OpenAi, Bytes::from(r#"{"model":"a","model":"b","messages":[]}"#), None);
        assert_eq!(parsed.unwrap().req.model, "b");
        // A top-level array is not an object.
        assert!(chat::parse(ClientFormat::OpenAi, Bytes::from("[\"m\",[]]"), None).is_err());
    }
}
