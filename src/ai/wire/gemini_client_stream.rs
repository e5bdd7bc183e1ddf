//! `streamGenerateContent` as a Gemini client reads it: canonical events written as
//! `GenerateContentResponse` chunks, as server-sent events (`alt=sse`) or, without it, as the
//! elements of one JSON array (what the API streams then).
//!
//! Text and thoughts go out as they come, one chunk per delta. A function call goes out whole
//! (Gemini never splits one), once its arguments are complete. A signature goes on the part it
//! belongs to: on the function call that follows it, or else on an empty thought part that
//! closes the thinking it signs. The finish reason and the usage go in a last chunk.

use http::StatusCode;
use serde_json::{Value, json};

use super::gemini_client::{finish_reason, part_json, usage_json};
use crate::ai::canonical::{Part, StopReason, StreamEvent, Usage};
use crate::ai::errors::{AiError, ErrorKind};
use crate::ai::frontdoor::ClientFormat;
use crate::httpkit::sse;

/// A call whose arguments are still arriving.
struct OpenCall {
    id: String,
    name: String,
    arguments: String,
    signature: Option<String>,
}

pub struct Encoder {
    model: String,
    id: String,
    /// Server-sent events; otherwise one JSON array.
    sse: bool,
    written: usize,
    signature: Option<String>,
    call: Option<OpenCall>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
}

impl Encoder {
    pub fn new(model: &str, sse: bool) -> Self {
        Encoder {
            model: model.to_string(),
            id: String::new(),
            sse,
            written: 0,
            signature: None,
            call: None,
            stop: None,
            usage: None,
        }
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut String) {
        match ev {
            StreamEvent::Start { id, model } => {
                if !id.is_empty() {
                    self.id.clone_from(id);
                }
                if !model.is_empty() {
                    self.model.clone_from(model);
                }
            }
            StreamEvent::TextDelta(t) => {
                self.flush(out);
                self.part(out, json!({"text": t}));
            }
            StreamEvent::ThinkingDelta(t) => {
                self.flush(out);
                self.part(out, json!({"text": t, "thought": true}));
            }
            StreamEvent::SignatureDelta(s) => {
                self.flush(out);
                self.signature = Some(s.clone());
            }
            StreamEvent::ToolCallStart { id, name, .. } => {
                self.flush_call(out);
                let signature = self.signature.take();
                self.call = Some(OpenCall { id: id.clone(), name: name.clone(), arguments: String::new(), signature });
            }
            StreamEvent::ToolCallDelta { arguments, .. } => match &mut self.call {
                Some(c) => c.arguments.push_str(arguments),
                None => tracing::debug!("arguments of no open call are dropped"),
            },
            StreamEvent::Stop(r) => {
                self.flush(out);
                self.stop = Some(r.clone());
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { kind, message } => {
                self.flush(out);
                let status = match kind {
                    ErrorKind::RateLimit => StatusCode::TOO_MANY_REQUESTS,
                    ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
                    ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let body = AiError::new(*kind, status, message.clone()).body(ClientFormat::Gemini);
                self.chunk(out, &body);
            }
            StreamEvent::End => {
                self.flush(out);
                let mut candidate = json!({"content": {"role": "model", "parts": []}, "index": 0});
                if let Some(r) = &self.stop {
                    candidate["finishReason"] = json!(finish_reason(r));
                }
                let mut v = self.response(candidate);
                if let Some(u) = &self.usage {
                    v["usageMetadata"] = usage_json(u);
                }
                self.chunk(out, &v);
                if !self.sse {
                    out.push_str("]\n");
                }
            }
        }
    }

    /// What is held for the part after it: a finished call, or a signature with no call after.
    fn flush(&mut self, out: &mut String) {
        self.flush_call(out);
        if let Some(s) = self.signature.take() {
            self.part(out, json!({"text": "", "thought": true, "thoughtSignature": s}));
        }
    }

    fn flush_call(&mut self, out: &mut String) {
        if let Some(c) = self.call.take() {
            let part = Part::ToolCall { id: c.id, name: c.name, arguments: c.arguments };
            if let Some(v) = part_json(&part, c.signature.as_deref()) {
                self.part(out, v);
            }
        }
    }

    fn response(&self, candidate: Value) -> Value {
        json!({"candidates": [candidate], "modelVersion": self.model, "responseId": self.id})
    }

    fn part(&mut self, out: &mut String, part: Value) {
        let v = self.response(json!({"content": {"role": "model", "parts": [part]}, "index": 0}));
        self.chunk(out, &v);
    }

    fn chunk(&mut self, out: &mut String, v: &Value) {
        let text = v.to_string();
        if self.sse {
            sse::write(out, None, None, &text);
        } else {
            out.push_str(if self.written == 0 { "[" } else { ",\r\n" });
            out.push_str(&text);
        }
        self.written += 1;
    }
}
