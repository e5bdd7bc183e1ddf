//! Canonical stream events as Responses API server-sent events (`event: <type>` plus a JSON
//! `data` carrying `type` and `sequence_number`), one event at a time: the response is
//! created, each output item (message, function call, reasoning) is added, streamed and done,
//! and `response.completed` (or `response.incomplete`) carries the whole response with its
//! usage. An error ends the stream with `error` and `response.failed`.

use serde_json::{Map, Value, json};

use super::openai_responses::{
    Envelope, echo, function_call_item, item_id, message_item, message_status, output_text, reasoning_item,
    response_id, status_of,
};
use crate::ai::canonical::{StopReason, StreamEvent, Usage};
use crate::httpkit::sse;

enum Kind {
    Message { text: String },
    Reasoning { text: String, signature: Option<String> },
    Call { call_id: String, name: String, arguments: String },
}

struct Item {
    id: String,
    kind: Kind,
    done: bool,
}

impl Item {
    fn json(&self, status: &str) -> Value {
        match &self.kind {
            Kind::Message { text } => message_item(&self.id, text, status),
            Kind::Reasoning { text, signature } => reasoning_item(&self.id, text, signature.as_deref()),
            Kind::Call { call_id, name, arguments } => function_call_item(call_id, name, arguments, status),
        }
    }
}

/// Writes canonical events as Responses API events for an OpenAI client.
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    echo: Map<String, Value>,
    seq: u64,
    started: bool,
    finished: bool,
    items: Vec<Item>,
    /// The item text or thinking deltas go to.
    open: Option<usize>,
    /// Tool call index → item index.
    calls: Vec<(usize, usize)>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
    /// Given the final `response` object (completed, incomplete or failed): to store it.
    on_end: Option<Box<dyn FnOnce(Value) + Send>>,
}

impl Encoder {
    /// The response is `id` (a stored one), and `on_end` gets its final object.
    pub fn stored(mut self, id: &str, on_end: Box<dyn FnOnce(Value) + Send>) -> Self {
        self.id = id.to_string();
        self.on_end = Some(on_end);
        self
    }

    fn ended(&mut self, response: &Value) {
        if let Some(f) = self.on_end.take() {
            f(response.clone());
        }
    }

    /// `request` is the client's body, whose settings the response objects repeat.
    pub fn new(model: &str, created: u64, request: &Value) -> Self {
        Self {
            id: response_id(""),
            model: model.to_string(),
            created,
            echo: echo(request),
            seq: 0,
            started: false,
            finished: false,
            items: Vec::new(),
            open: None,
            calls: Vec::new(),
            stop: None,
            usage: None,
            on_end: None,
        }
    }

    fn emit(&mut self, out: &mut String, kind: &str, payload: Value) {
        let mut m = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("type".into(), json!(kind));
        m.insert("sequence_number".into(), json!(self.seq));
        self.seq += 1;
        sse::write(out, Some(kind), None, &Value::Object(m).to_string());
    }

    fn envelope(&self, status: &str, incomplete_details: Value, error: Value, with_output: bool) -> Value {
        let output = if with_output {
            let messages = message_status(status);
            let item_status = |i: &Item| match i.kind {
                Kind::Message { .. } => messages,
                Kind::Reasoning { .. } | Kind::Call { .. } => "completed",
            };
            self.items.iter().map(|i| i.json(item_status(i))).collect()
        } else {
            vec![]
        };
        Envelope {
            id: &self.id,
            model: &self.model,
            created: self.created,
            status,
            output,
            usage: if with_output { self.usage.as_ref() } else { None },
            incomplete_details,
            error,
            echo: &self.echo,
        }
        .to_json()
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.envelope("in_progress", Value::Null, Value::Null, false);
        self.emit(out, "response.created", json!({"response": response}));
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    /// Adds an output item and announces it; returns its index.
    fn add(&mut self, out: &mut String, prefix: &str, kind: Kind) -> usize {
        if let Some(open) = self.open.take() {
            self.close(out, open);
        }
        let index = self.items.len();
        let id = match &kind {
            Kind::Call { call_id, .. } => format!("fc_{call_id}"),
            Kind::Message { .. } | Kind::Reasoning { .. } => item_id(prefix, &self.id, index),
        };
        let item = Item { id, kind, done: false };
        let added = match &item.kind {
            Kind::Message { .. } => {
                json!({"id": item.id, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
            }
            Kind::Reasoning { .. } => json!({"id": item.id, "type": "reasoning", "summary": [], "content": []}),
            Kind::Call { .. } => item.json("in_progress"),
        };
        let item_id = item.id.clone();
        let part = match &item.kind {
            Kind::Message { .. } => Some(output_text("")),
            Kind::Reasoning { .. } => Some(json!({"type": "reasoning_text", "text": ""})),
            Kind::Call { .. } => None,
        };
        self.items.push(item);
        self.emit(out, "response.output_item.added", json!({"output_index": index, "item": added}));
        if let Some(part) = part {
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part}),
            );
        }
        index
    }

    fn close(&mut self, out: &mut String, index: usize) {
        // Known at the end only: a message cut by the token limit is incomplete.
        let messages = message_status(status_of(self.stop.as_ref()).0);
        let Some(item) = self.items.get_mut(index) else { return };
        if item.done {
            return;
        }
        item.done = true;
        let id = item.id.clone();
        let done = item.json(match item.kind {
            Kind::Message { .. } => messages,
            Kind::Reasoning { .. } | Kind::Call { .. } => "completed",
        });
        let mut events: Vec<(&str, Value)> = Vec::new();
        match &item.kind {
            Kind::Message { text } => {
                events.push((
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                ));
                events.push((
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text(text)}),
                ));
            }
            Kind::Reasoning { text, .. } => {
                let part = json!({"type": "reasoning_text", "text": text});
                events.push((
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                ));
                events.push((
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                ));
            }
            Kind::Call { name, arguments, .. } => events.push((
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments}),
            )),
        }
        events.push(("response.output_item.done", json!({"output_index": index, "item": done})));
        for (kind, payload) in events {
            self.emit(out, kind, payload);
        }
    }

    /// The open item of this kind (`reasoning` or not), opening a new one if needed.
    fn open_text(&mut self, out: &mut String, reasoning: bool) -> usize {
        let fits = |i: &Item| match i.kind {
            Kind::Message { .. } => !reasoning,
            Kind::Reasoning { .. } => reasoning,
            Kind::Call { .. } => false,
        };
        if let Some(i) = self.open
            && fits(&self.items[i])
        {
            return i;
        }
        let index = if reasoning {
            self.add(out, "rs", Kind::Reasoning { text: String::new(), signature: None })
        } else {
            self.add(out, "msg", Kind::Message { text: String::new() })
        };
        self.open = Some(index);
        index
    }

    fn call_item(&mut self, out: &mut String, call: usize) -> usize {
        if let Some((_, i)) = self.calls.iter().find(|(c, _)| *c == call) {
            return *i;
        }
        // Arguments before the call's start: an unnamed call.
        let index = self.add(
            out,
            "fc",
            Kind::Call { call_id: format!("call_{call}"), name: String::new(), arguments: String::new() },
        );
        self.calls.push((call, index));
        self.open = Some(index);
        index
    }

    /// Appends the SSE text for one event.
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut String) {
        if self.finished {
            return;
        }
        match ev {
            StreamEvent::Start { id, model } => {
                // A stored response keeps the id it was given.
                if !self.started && self.on_end.is_none() {
                    self.id = response_id(id);
                }
                if !self.started && !model.is_empty() {
                    self.model = model.clone();
                }
                self.start(out);
            }
            StreamEvent::TextDelta(t) | StreamEvent::ThinkingDelta(t) => {
                self.start(out);
                let reasoning = matches!(ev, StreamEvent::ThinkingDelta(_));
                let index = self.open_text(out, reasoning);
                let id = self.items[index].id.clone();
                if let Kind::Message { text } | Kind::Reasoning { text, .. } = &mut self.items[index].kind {
                    text.push_str(t);
                }
                let kind = if reasoning { "response.reasoning_text.delta" } else { "response.output_text.delta" };
                let mut payload = json!({"item_id": id, "output_index": index, "content_index": 0, "delta": t});
                if !reasoning {
                    payload["logprobs"] = json!([]);
                }
                self.emit(out, kind, payload);
            }
            StreamEvent::SignatureDelta(s) => {
                // The signature of the reasoning item under way, given with it when it is done.
                if let Some(item) = self.items.iter_mut().rev().find(|i| matches!(i.kind, Kind::Reasoning { .. }))
                    && let Kind::Reasoning { signature, .. } = &mut item.kind
                {
                    signature.get_or_insert_with(String::new).push_str(s);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(out);
                let item = self.add(
                    out,
                    "fc",
                    Kind::Call { call_id: id.clone(), name: name.clone(), arguments: String::new() },
                );
                self.calls.retain(|(c, _)| c != index);
                self.calls.push((*index, item));
                self.open = Some(item);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.start(out);
                let item = self.call_item(out, *index);
                let id = self.items[item].id.clone();
                if let Kind::Call { arguments: a, .. } = &mut self.items[item].kind {
                    a.push_str(arguments);
                }
                self.emit(
                    out,
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": item, "delta": arguments}),
                );
            }
            StreamEvent::Stop(r) => self.stop = Some(r.clone()),
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { kind: _, message } => {
                self.start(out);
                self.emit(out, "error", json!({"code": "server_error", "message": message, "param": null}));
                let error = json!({"code": "server_error", "message": message});
                let response = self.envelope("failed", Value::Null, error, true);
                self.ended(&response);
                self.emit(out, "response.failed", json!({"response": response}));
                self.finished = true;
            }
            StreamEvent::End => {
                self.start(out);
                self.open = None;
                for i in 0..self.items.len() {
                    self.close(out, i);
                }
                let (status, incomplete_details) = status_of(self.stop.as_ref());
                let response = self.envelope(status, incomplete_details, Value::Null, true);
                let kind = if status == "incomplete" { "response.incomplete" } else { "response.completed" };
                self.ended(&response);
                self.emit(out, kind, json!({"response": response}));
                self.finished = true;
            }
        }
    }
}
