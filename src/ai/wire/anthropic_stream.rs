//! Anthropic Messages streaming events: decoding a provider's stream into canonical events and
//! encoding canonical events for an Anthropic client, one event at a time.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::anthropic::{parse_usage, stop_reason, stop_reason_str, usage_json};
use crate::ai::canonical::{StopReason, StreamEvent, Usage};
use crate::ai::errors::ErrorKind;
use crate::httpkit::sse;

#[derive(Default)]
pub struct Decoder {
    start_usage: Usage,
    /// Content block index → tool call ordinal.
    tools: HashMap<u64, usize>,
    next_tool: usize,
}

impl Decoder {
    pub fn decode(&mut self, event: &str, data: &str, out: &mut Vec<StreamEvent>) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            if event != "ping" {
                out.push(StreamEvent::Error {
                    kind: ErrorKind::Upstream,
                    message: "the provider sent an unreadable event".into(),
                });
            }
            return;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event);
        match kind {
            "message_start" => {
                let m = v.get("message").cloned().unwrap_or_default();
                if let Some(u) = m.get("usage") {
                    self.start_usage = parse_usage(u);
                }
                out.push(StreamEvent::Start {
                    id: m.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                    model: m.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
                });
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or_default();
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let ordinal = self.next_tool;
                        self.next_tool += 1;
                        self.tools.insert(index, ordinal);
                        out.push(StreamEvent::ToolCallStart {
                            index: ordinal,
                            id: block.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                            name: block.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        });
                    }
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta(t.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let d = v.get("delta").cloned().unwrap_or_default();
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => out.push(StreamEvent::TextDelta(s("text"))),
                    Some("input_json_delta") => out.push(StreamEvent::ToolCallDelta {
                        index: self.tools.get(&index).copied().unwrap_or(0),
                        arguments: s("partial_json"),
                    }),
                    Some("thinking_delta") => out.push(StreamEvent::ThinkingDelta(s("thinking"))),
                    Some("signature_delta") => out.push(StreamEvent::SignatureDelta(s("signature"))),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(StreamEvent::Stop(stop_reason(r)));
                }
                if let Some(u) = v.get("usage") {
                    // Output is cumulative here; input classes come from message_start unless
                    // this event repeats them.
                    let mut usage = self.start_usage;
                    let late = parse_usage(u);
                    usage.output = late.output;
                    if u.get("input_tokens").and_then(Value::as_u64).is_some() {
                        usage.input = late.input;
                        usage.cache_read = late.cache_read;
                        usage.cache_creation = late.cache_creation;
                    }
                    out.push(StreamEvent::Usage(usage));
                }
            }
            "message_stop" => out.push(StreamEvent::End),
            "error" => {
                let message =
                    v.pointer("/error/message").and_then(Value::as_str).unwrap_or("provider error").to_string();
                let kind = match v.pointer("/error/type").and_then(Value::as_str) {
                    Some("overloaded_error") => ErrorKind::Overloaded,
                    Some("rate_limit_error") => ErrorKind::RateLimit,
                    _ => ErrorKind::Upstream,
                };
                out.push(StreamEvent::Error { kind, message });
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
}

/// Writes canonical events as Anthropic stream events.
pub struct Encoder {
    model: String,
    open: Option<(usize, Block)>,
    next_index: usize,
    stop: Option<StopReason>,
    usage: Option<Usage>,
    finished: bool,
}

fn event(out: &mut String, name: &str, data: Value) {
    sse::write(out, Some(name), None, &data.to_string());
}

impl Encoder {
    pub fn new(model: &str) -> Self {
        Self { model: model.to_string(), open: None, next_index: 0, stop: None, usage: None, finished: false }
    }

    fn close(&mut self, out: &mut String) {
        if let Some((index, _)) = self.open.take() {
            event(out, "content_block_stop", json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn ensure(&mut self, block: Block, out: &mut String) -> usize {
        if let Some((index, open)) = self.open
            && open == block
        {
            return index;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        let start = match block {
            Block::Text => json!({"type": "text", "text": ""}),
            Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Tool(_) => json!({}),
        };
        event(
            out,
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        self.open = Some((index, block));
        index
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut String) {
        match ev {
            StreamEvent::Start { id, model } => {
                if !model.is_empty() {
                    self.model = model.clone();
                }
                let id = if id.starts_with("msg_") { id.clone() } else { format!("msg_{id}") };
                event(
                    out,
                    "message_start",
                    json!({"type": "message_start", "message": {
                        "id": id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                        "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": 0, "output_tokens": 0},
                    }}),
                );
            }
            StreamEvent::TextDelta(t) => {
                let index = self.ensure(Block::Text, out);
                event(
                    out,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}),
                );
            }
            StreamEvent::ThinkingDelta(t) => {
                let index = self.ensure(Block::Thinking, out);
                event(
                    out,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": t}}),
                );
            }
            StreamEvent::SignatureDelta(s) => {
                let index = self.ensure(Block::Thinking, out);
                event(
                    out,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": s}}),
                );
            }
            StreamEvent::ToolCallStart { index: ordinal, id, name } => {
                self.close(out);
                let index = self.next_index;
                self.next_index += 1;
                event(
                    out,
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                );
                self.open = Some((index, Block::Tool(*ordinal)));
            }
            StreamEvent::ToolCallDelta { index: _, arguments } => {
                if let Some((index, Block::Tool(_))) = self.open {
                    event(
                        out,
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                    );
                }
            }
            StreamEvent::Stop(r) => {
                self.close(out);
                self.stop = Some(r.clone());
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { kind, message } => {
                let ty = match kind {
                    ErrorKind::Overloaded => "overloaded_error",
                    ErrorKind::RateLimit => "rate_limit_error",
                    _ => "api_error",
                };
                event(out, "error", json!({"type": "error", "error": {"type": ty, "message": message}}));
            }
            StreamEvent::End => self.finish(out),
        }
    }

    pub fn finish(&mut self, out: &mut String) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.close(out);
        let stop = self.stop.as_ref().map(stop_reason_str).unwrap_or("end_turn").to_string();
        let usage = usage_json(&self.usage.unwrap_or_default());
        event(
            out,
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
        );
        event(out, "message_stop", json!({"type": "message_stop"}));
    }
}
