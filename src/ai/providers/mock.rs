//! The `mock` provider: answers locally and deterministically, for examples, offline demos and
//! benchmarks. It answers with the configured content, or echoes the last user message, and
//! reports usage as whitespace-separated word counts.

use http::HeaderMap;
use serde_json::Value;

use super::Provider;
use crate::ai::canonical::{ChatRequest, ChatResponse, Part, Role, StopReason, StreamEvent, Usage};
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::openai_stream;
use crate::ir::ai::{AiProviderIr, MockSettings};

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn text_parts(parts: &[Part]) -> impl Iterator<Item = &str> {
    parts.iter().filter_map(|p| match p {
        Part::Text(t) => Some(t.as_str()),
        _ => None,
    })
}

pub fn content(req: &ChatRequest, settings: &MockSettings) -> String {
    settings.content.clone().unwrap_or_else(|| {
        let last = req.messages.iter().rev().find(|m| m.role == Role::User);
        let text: Vec<&str> = last.map(|m| text_parts(&m.parts).collect()).unwrap_or_default();
        if text.is_empty() { "Hello from the Sluice mock provider.".to_string() } else { text.join(" ") }
    })
}

pub fn usage(req: &ChatRequest, answer: &str) -> Usage {
    let input = req.system.iter().map(|s| words(s)).sum::<u64>()
        + req.messages.iter().flat_map(|m| text_parts(&m.parts)).map(words).sum::<u64>();
    Usage { input, output: words(answer), ..Usage::default() }
}

pub fn respond(req: &ChatRequest, model: &str, settings: &MockSettings) -> ChatResponse {
    let answer = content(req, settings);
    ChatResponse {
        id: format!("mock-{}", rand::random::<u32>()),
        model: model.to_string(),
        usage: Some(usage(req, &answer)),
        parts: vec![Part::Text(answer)],
        stop: Some(StopReason::EndTurn),
    }
}

/// The answer cut into `chunks` pieces on character boundaries, framed as stream events.
pub fn stream_events(req: &ChatRequest, model: &str, settings: &MockSettings) -> Vec<StreamEvent> {
    let answer = content(req, settings);
    let chars: Vec<char> = answer.chars().collect();
    let n = settings.chunks.max(1) as usize;
    let size = chars.len().div_ceil(n).max(1);
    let mut events =
        vec![StreamEvent::Start { id: format!("mock-{}", rand::random::<u32>()), model: model.to_string() }];
    for piece in chars.chunks(size) {
        events.push(StreamEvent::TextDelta(piece.iter().collect()));
    }
    events.push(StreamEvent::Stop(StopReason::EndTurn));
    events.push(StreamEvent::Usage(usage(req, &answer)));
    events.push(StreamEvent::End);
    events
}

/// The mock provider: answers locally ([`respond`], [`stream_events`]); it has no HTTP side.
pub struct Mock;

fn no_endpoint<T>() -> Result<T, AiError> {
    Err(AiError::internal("the mock provider has no HTTP endpoint"))
}

impl Provider for Mock {
    fn same_format(&self, _format: ClientFormat, _model: &str) -> bool {
        false
    }

    fn chat_request(
        &self,
        _: &AiProviderIr,
        _: &ParsedChat,
        _: &str,
        _: bool,
    ) -> Result<(String, bytes::Bytes), AiError> {
        no_endpoint()
    }

    fn stream_decoder(&self, _model: &str, _headers: &HeaderMap) -> Decode {
        // Never asked: the mock answers locally.
        Decode::OpenAi(openai_stream::Decoder::default())
    }

    fn parse_response(&self, _model: &str, _json: &Value) -> Result<ChatResponse, AiError> {
        no_endpoint()
    }

    fn error_message(&self, _json: &Value, _headers: &HeaderMap) -> Option<String> {
        None
    }

    fn local(&self) -> bool {
        true
    }
}
