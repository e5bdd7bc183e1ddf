//! Bedrock's `ConverseStream`: event-stream messages (see [`crate::ai::eventstream`]) whose
//! `:event-type` header names the event and whose payload is its JSON: `messageStart`,
//! `contentBlockStart` (a tool call's id and name), `contentBlockDelta` (text, tool input JSON
//! text, reasoning text or signature), `contentBlockStop`, `messageStop` (the stop reason) and
//! `metadata` (usage, last). An exception message (`:message-type: exception`) is an error in
//! the middle of the stream.

use std::collections::HashMap;

use serde_json::Value;

use super::bedrock::{parse_usage, stop_reason};
use crate::ai::canonical::StreamEvent;
use crate::ai::errors::ErrorKind;

/// The event name Sluice gives exception messages: `exception:<type>`.
pub const EXCEPTION_PREFIX: &str = "exception:";

#[derive(Default)]
pub struct Decoder {
    /// The response id to report: Bedrock's request id (`x-amzn-RequestId`); events carry none.
    id: String,
    started: bool,
    /// Content block index → tool call ordinal.
    calls: HashMap<u64, usize>,
    stopped: bool,
    ended: bool,
}

impl Decoder {
    pub fn new(id: String) -> Decoder {
        Decoder { id, ..Decoder::default() }
    }

    pub fn decode(&mut self, name: &str, data: &str, out: &mut Vec<StreamEvent>) {
        if let Some(ty) = name.strip_prefix(EXCEPTION_PREFIX) {
            let message = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| data.chars().take(500).collect());
            let kind = match ty {
                "throttlingException" => ErrorKind::RateLimit,
                "serviceUnavailableException" => ErrorKind::Overloaded,
                "validationException" => ErrorKind::InvalidRequest,
                "modelTimeoutException" => ErrorKind::Timeout,
                _ => ErrorKind::Upstream,
            };
            out.push(StreamEvent::Error { kind, message: format!("{ty}: {message}") });
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: "the provider sent an unreadable event".into(),
            });
            return;
        };
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: self.id.clone(), model: String::new() });
        }
        let index = v.get("contentBlockIndex").and_then(Value::as_u64).unwrap_or(0);
        match name {
            "contentBlockStart" => {
                if let Some(t) = v.pointer("/start/toolUse") {
                    let ordinal = self.calls.len();
                    self.calls.insert(index, ordinal);
                    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    out.push(StreamEvent::ToolCallStart { index: ordinal, id: s("toolUseId"), name: s("name") });
                }
            }
            "contentBlockDelta" => {
                let Some(d) = v.get("delta") else { return };
                if let Some(t) = d.get("text").and_then(Value::as_str) {
                    if !t.is_empty() {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                } else if let Some(input) = d.pointer("/toolUse/input").and_then(Value::as_str) {
                    if let Some(&ordinal) = self.calls.get(&index) {
                        out.push(StreamEvent::ToolCallDelta { index: ordinal, arguments: input.to_string() });
                    }
                } else if let Some(r) = d.get("reasoningContent") {
                    if let Some(t) = r.get("text").and_then(Value::as_str) {
                        out.push(StreamEvent::ThinkingDelta(t.to_string()));
                    }
                    if let Some(s) = r.get("signature").and_then(Value::as_str) {
                        out.push(StreamEvent::SignatureDelta(s.to_string()));
                    }
                }
            }
            "messageStop" => {
                if let Some(r) = v.get("stopReason").and_then(Value::as_str) {
                    self.stopped = true;
                    out.push(StreamEvent::Stop(stop_reason(r)));
                }
            }
            "metadata" => {
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    out.push(StreamEvent::Usage(parse_usage(u)));
                }
                if self.stopped && !self.ended {
                    self.ended = true;
                    out.push(StreamEvent::End);
                }
            }
            // messageStart, contentBlockStop and events added later carry nothing to translate.
            _ => {}
        }
    }

    /// At the end of the provider's stream: a stream that stopped but sent no `metadata` is
    /// complete all the same; one that never stopped was cut.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.stopped && !self.ended {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}
