//! OpenAI chat completion chunks: decoding a provider's stream into canonical events and
//! encoding canonical events for an OpenAI client. Both work one event at a time.

use serde_json::{Value, json};

use super::openai_chat::{finish_reason, parse_usage, stop_reason, usage_json};
use crate::ai::canonical::{StreamEvent, Usage};
use crate::ai::errors::ErrorKind;
use crate::httpkit::sse;

/// Turns each `data:` payload of a provider's stream into canonical events.
#[derive(Default)]
pub struct Decoder {
    started: bool,
}

/// Whether a chunk is nothing but deltas: its `usage` and `finish_reason` are null or absent and
/// it is not the end marker. A same-format stream passes such a chunk on without decoding it when
/// the gateway keeps none of its text. Decided on the chunk's text, conservatively: a key spelled
/// anywhere with another value (even inside a string) means the chunk is decoded.
pub fn only_deltas(data: &str) -> bool {
    let null_or_absent = |key: &str| {
        data.match_indices(key).all(|(i, _)| {
            let rest = data[i + key.len()..].trim_start();
            rest.strip_prefix(':').is_some_and(|r| r.trim_start().starts_with("null"))
        })
    };
    !data.contains("[DONE]") && null_or_absent("\"usage\"") && null_or_absent("\"finish_reason\"")
}

impl Decoder {
    pub fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if data.trim() == "[DONE]" {
            out.push(StreamEvent::End);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: "the provider sent an unreadable chunk".into(),
            });
            return;
        };
        if let Some(e) = v.get("error") {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("provider error").to_string();
            out.push(StreamEvent::Error { kind: ErrorKind::Upstream, message });
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: v.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                model: v.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
            });
        }
        if let Some(choice) = v.pointer("/choices/0") {
            let delta = choice.get("delta").cloned().unwrap_or_default();
            if let Some(r) = delta.get("reasoning_content").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                out.push(StreamEvent::ThinkingDelta(r.to_string()));
            }
            if let Some(t) = delta.get("content").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                out.push(StreamEvent::TextDelta(t.to_string()));
            }
            for c in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    let name = c.pointer("/function/name").and_then(Value::as_str).unwrap_or_default();
                    out.push(StreamEvent::ToolCallStart { index, id: id.to_string(), name: name.to_string() });
                }
                if let Some(a) = c.pointer("/function/arguments").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta { index, arguments: a.to_string() });
                }
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                out.push(StreamEvent::Stop(stop_reason(r)));
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            out.push(StreamEvent::Usage(parse_usage(u)));
        }
    }
}

/// Writes canonical events as chat completion chunks for an OpenAI client.
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    /// The client asked for the usage chunk.
    include_usage: bool,
    usage: Option<Usage>,
    finished: bool,
}

impl Encoder {
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Self { id: String::new(), model: model.to_string(), created, include_usage, usage: None, finished: false }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        sse::event_string(None, None, &v.to_string())
    }

    /// Appends the SSE text for one event.
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut String) {
        match ev {
            StreamEvent::Start { id, model } => {
                self.id = if id.is_empty() { "chatcmpl-sluice".to_string() } else { id.clone() };
                if !model.is_empty() {
                    self.model = model.clone();
                }
                out.push_str(&self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            StreamEvent::TextDelta(t) => out.push_str(&self.chunk(json!({"content": t}), None)),
            StreamEvent::ThinkingDelta(t) => out.push_str(&self.chunk(json!({"reasoning_content": t}), None)),
            // The signature of the thinking streamed as `reasoning_content`, for the client to
            // send back in `thinking_blocks`.
            StreamEvent::SignatureDelta(s) => out.push_str(
                &self.chunk(json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": s}]}), None),
            ),
            StreamEvent::ToolCallStart { index, id, name } => out.push_str(&self.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            )),
            StreamEvent::ToolCallDelta { index, arguments } => out.push_str(
                &self.chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}), None),
            ),
            StreamEvent::Stop(r) => out.push_str(&self.chunk(json!({}), Some(finish_reason(r)))),
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { kind: _, message } => {
                let v = json!({"error": {"message": message, "type": "api_error", "param": null, "code": null}});
                sse::write(out, None, None, &v.to_string());
            }
            StreamEvent::End => self.finish(out),
        }
    }

    /// The usage chunk (when asked for) and `[DONE]`; once.
    pub fn finish(&mut self, out: &mut String) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.include_usage
            && let Some(u) = &self.usage
        {
            let v = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage_json(u),
            });
            sse::write(out, None, None, &v.to_string());
        }
        sse::write(out, None, None, "[DONE]");
    }
}

#[cfg(test)]
mod only_deltas_tests {
    use super::only_deltas;

    #[test]
    fn a_delta_chunk_is_only_deltas_and_a_chunk_that_says_more_is_not() {
        let delta = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \"usage\": 3"},"finish_reason":null}],"usage":null}"#;
        assert!(only_deltas(delta));
        assert!(only_deltas(r#"{"choices":[{"delta":{"content":"x"}}]}"#));
        assert!(only_deltas(r#"{"choices":[{"delta":{},"finish_reason" : null}], "usage" :null}"#));
        for says_more in [
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
            r#"{"choices":[{"delta":{"content":"a"},"finish_reason": "length"}],"usage":null}"#,
            "[DONE]",
            // A key spelled as a value: decoded, to be safe.
            r#"{"choices":[{"delta":{"content":"a"}}],"note":"finish_reason","x":{"finish_reason":1}}"#,
        ] {
            assert!(!only_deltas(says_more), "{says_more}");
        }
    }
}
