//! Gemini's `streamGenerateContent?alt=sse`: every event carries a whole
//! `GenerateContentResponse` (the parts generated since the last one), read into canonical
//! events one at a time. Text and thoughts arrive as deltas; a function call arrives whole, so
//! it becomes a tool call start and a single argument delta. Usage is cumulative: the last
//! report wins. There is no end marker: the stream is complete when it ends after a finish
//! reason ([`Decoder::finish`]), and cut otherwise.

use serde_json::Value;

use super::gemini::{Item, generated_id, parse_usage, read_part, stop_reason};
use crate::ai::canonical::{StreamEvent, Usage};
use crate::ai::errors::ErrorKind;

#[derive(Default)]
pub struct Decoder {
    started: bool,
    /// Function calls so far: the next one's ordinal.
    calls: usize,
    finished: bool,
    usage: Option<Usage>,
}

impl Decoder {
    /// Turns the `data:` payload of one event into canonical events.
    pub fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: "the provider sent an unreadable event".into(),
            });
            return;
        };
        if let Some(e) = v.get("error") {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("provider error").to_string();
            let kind = match (e.get("code").and_then(Value::as_u64), e.get("status").and_then(Value::as_str)) {
                (Some(429), _) | (_, Some("RESOURCE_EXHAUSTED")) => ErrorKind::RateLimit,
                (Some(503), _) | (_, Some("UNAVAILABLE")) => ErrorKind::Overloaded,
                _ => ErrorKind::Upstream,
            };
            out.push(StreamEvent::Error { kind, message });
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: v.get("responseId").and_then(Value::as_str).unwrap_or_default().to_string(),
                model: v.get("modelVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
            });
        }
        let candidate = v.pointer("/candidates/0");
        let parts = candidate.and_then(|c| c.pointer("/content/parts")).and_then(Value::as_array);
        for item in parts.into_iter().flatten().filter_map(read_part) {
            match item {
                Item::Thought { text, signature } => {
                    if !text.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(text));
                    }
                    if let Some(s) = signature {
                        out.push(StreamEvent::SignatureDelta(s));
                    }
                }
                Item::Text(t) => {
                    if !t.is_empty() {
                        out.push(StreamEvent::TextDelta(t));
                    }
                }
                Item::Call { id, name, arguments, signature } => {
                    if let Some(s) = signature {
                        out.push(StreamEvent::SignatureDelta(s));
                    }
                    let index = self.calls;
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart { index, id: id.unwrap_or_else(|| generated_id(index)), name });
                    out.push(StreamEvent::ToolCallDelta { index, arguments });
                }
                // No canonical stream event carries an image.
                Item::Image { .. } => {}
            }
        }
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(parse_usage(u));
        }
        let reason = candidate.and_then(|c| c.get("finishReason")).and_then(Value::as_str);
        let blocked = v.pointer("/promptFeedback/blockReason").and_then(Value::as_str).map(|_| "SAFETY");
        if let Some(r) = reason.or(blocked)
            && !self.finished
        {
            self.finished = true;
            out.push(StreamEvent::Stop(stop_reason(r, self.calls > 0)));
        }
    }

    /// At the end of the provider's stream: the usage and the end, when a finish reason came;
    /// nothing otherwise (the stream was cut).
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.finished {
            return;
        }
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        out.push(StreamEvent::End);
        self.finished = false;
    }
}
