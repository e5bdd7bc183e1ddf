//! A fake Anthropic API: `POST /v1/messages` (JSON, or SSE with named events),
//! `POST /v1/messages/count_tokens`, `GET /v1/models`, and errors shaped
//! `{"type": "error", "error": {"type", "message"}, "request_id"}`.
//!
//! Wire details it follows:
//! - Every request needs an API key (401 `authentication_error` when missing or wrong), in
//!   `x-api-key` or, as the official Python SDK 2.x sends it, `Authorization: Bearer`, and
//!   `anthropic-version` (400 `invalid_request_error` when missing).
//! - A stream is `message_start` (the message with empty `content`, `stop_reason: null` and the
//!   input usage: `input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`, and
//!   `output_tokens: 1`), then per content block `content_block_start`, deltas
//!   (`text_delta`, `thinking_delta` then one `signature_delta`, `input_json_delta` starting with
//!   an empty `partial_json`) and `content_block_stop`, with a `ping` after the first block
//!   start; then `message_delta` (`stop_reason`, `stop_sequence` and cumulative
//!   `usage.output_tokens`), then `message_stop`. Each SSE event has an `event:` line naming
//!   the same type as its data's `type`.
//! - The request checks a translating gateway can trip on: `max_tokens` is required, `system`
//!   is a top-level field (a `system` role in `messages` is refused), `temperature` is at most
//!   1, every `tool_result` answers a `tool_use` of the previous message and every `tool_use`
//!   is answered in the next one, tools need `input_schema`, a thinking budget is at least 1024
//!   and below `max_tokens`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Ids, Outcome, Queue, RecordedRequest, Server, all_text, cut_json_response, estimate_tokens, event_pieces,
    json_response, split_chunks, sse_response,
};

/// The `anthropic-version` the fake expects clients to send (any value is accepted; it must be
/// present).
pub const API_VERSION: &str = "2023-06-01";

/// Token usage, as Anthropic reports it. `input_tokens` excludes cached and cache-written
/// tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

impl Usage {
    pub fn new(input_tokens: u64, output_tokens: u64) -> Usage {
        Usage { input_tokens, output_tokens, ..Usage::default() }
    }

    /// The `usage` of a non-streamed message.
    pub fn to_json(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0
            },
            "output_tokens": self.output_tokens,
            "service_tier": "standard"
        })
    }
}

/// One content block of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text { text: String, chunks: usize },
    Thinking { thinking: String, signature: String, chunks: usize },
    ToolUse { id: String, name: String, input: Value, chunks: usize },
}

impl Block {
    pub fn text(text: &str) -> Block {
        Block::Text { text: text.to_owned(), chunks: 3 }
    }

    pub fn thinking(thinking: &str, signature: &str) -> Block {
        Block::Thinking { thinking: thinking.to_owned(), signature: signature.to_owned(), chunks: 2 }
    }

    pub fn tool_use(id: &str, name: &str, input: Value) -> Block {
        Block::ToolUse { id: id.to_owned(), name: name.to_owned(), input, chunks: 3 }
    }

    /// Sets the number of stream deltas the block's text, thinking or input JSON is split into.
    pub fn chunks(self, n: usize) -> Block {
        match self {
            Block::Text { text, .. } => Block::Text { text, chunks: n },
            Block::Thinking { thinking, signature, .. } => Block::Thinking { thinking, signature, chunks: n },
            Block::ToolUse { id, name, input, .. } => Block::ToolUse { id, name, input, chunks: n },
        }
    }

    /// The block as it appears in a non-streamed message.
    pub fn to_json(&self) -> Value {
        match self {
            Block::Text { text, .. } => json!({"type": "text", "text": text}),
            Block::Thinking { thinking, signature, .. } => {
                json!({"type": "thinking", "thinking": thinking, "signature": signature})
            }
            Block::ToolUse { id, name, input, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The `model` the answer names; `None`: the request's.
    pub model: Option<String>,
    pub blocks: Vec<Block>,
    /// `None`: `tool_use` when a block is a tool use, else `end_turn`.
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
    /// Also repeat the input figures in `message_delta.usage` (newer API behaviour); by default
    /// it carries `output_tokens` only, as documented.
    pub full_delta_usage: bool,
    /// Pause between stream events.
    pub interval: Duration,
    /// Pause before the response head.
    pub first_byte_delay: Duration,
}

impl Reply {
    /// One text block in 3 stream deltas, with usage 13 input / 9 output tokens.
    pub fn text(text: &str) -> Reply {
        Reply::blocks(vec![Block::text(text)])
    }

    pub fn blocks(blocks: Vec<Block>) -> Reply {
        Reply {
            model: None,
            blocks,
            stop_reason: None,
            stop_sequence: None,
            usage: Usage::new(13, 9),
            full_delta_usage: false,
            interval: Duration::ZERO,
            first_byte_delay: Duration::ZERO,
        }
    }

    pub fn with_block(mut self, block: Block) -> Reply {
        self.blocks.push(block);
        self
    }

    pub fn usage(mut self, usage: Usage) -> Reply {
        self.usage = usage;
        self
    }

    pub fn stop(mut self, reason: &str) -> Reply {
        self.stop_reason = Some(reason.to_owned());
        self
    }

    /// `stop_reason: stop_sequence` with the sequence that matched.
    pub fn stop_sequence(mut self, sequence: &str) -> Reply {
        self.stop_reason = Some("stop_sequence".to_owned());
        self.stop_sequence = Some(sequence.to_owned());
        self
    }

    pub fn model(mut self, model: &str) -> Reply {
        self.model = Some(model.to_owned());
        self
    }

    pub fn full_delta_usage(mut self) -> Reply {
        self.full_delta_usage = true;
        self
    }

    pub fn interval(mut self, d: Duration) -> Reply {
        self.interval = d;
        self
    }

    pub fn first_byte_delay(mut self, d: Duration) -> Reply {
        self.first_byte_delay = d;
        self
    }

    /// The stop reason the fake sends.
    pub fn effective_stop_reason(&self) -> String {
        match &self.stop_reason {
            Some(r) => r.clone(),
            None if self.blocks.iter().any(|b| matches!(b, Block::ToolUse { .. })) => "tool_use".to_owned(),
            None => "end_turn".to_owned(),
        }
    }
}

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answer: messages from the reply (streamed when the request says `stream: true`);
    /// `count_tokens` gives the reply's `usage.input_tokens` (or an estimate when it is 0);
    /// models from the script.
    Reply(Reply),
    /// An HTTP error: `body` as given (see [`error_body`]), with `Retry-After` when set.
    Error { status: u16, body: Value, retry_after: Option<String> },
    /// Read the request, then close the connection with a TCP RST before any response byte.
    Reset,
    /// Send the first `after` stream events (a non-streamed answer: half of its body), then
    /// drop the connection.
    Cut { reply: Reply, after: usize },
    /// Send the first `after` stream events, then `event: error` with `error` (a full error
    /// body) and end the stream (a non-streamed request gets the error as a 529).
    StreamError { reply: Reply, after: usize, error: Value },
}

impl Behaviour {
    /// An error with Anthropic's body for `status` (see [`status_error`]).
    pub fn status(status: u16) -> Behaviour {
        Behaviour::Error { status, body: status_error(status), retry_after: None }
    }

    pub fn error(status: u16, kind: &str, message: &str) -> Behaviour {
        Behaviour::Error { status, body: error_body(kind, message), retry_after: None }
    }

    /// Adds `Retry-After` to an `Error`.
    pub fn retry_after(self, value: &str) -> Behaviour {
        match self {
            Behaviour::Error { status, body, .. } => {
                Behaviour::Error { status, body, retry_after: Some(value.to_owned()) }
            }
            other => other,
        }
    }
}

/// Anthropic's error body (the fake adds `request_id` when it sends one).
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// The body Anthropic sends for its documented statuses.
pub fn status_error(status: u16) -> Value {
    match status {
        400 => error_body("invalid_request_error", "Invalid request."),
        401 => error_body("authentication_error", "invalid x-api-key"),
        402 => error_body("billing_error", "Your credit balance is too low to access the Anthropic API."),
        403 => error_body("permission_error", "Your API key does not have permission to use the specified resource."),
        404 => error_body("not_found_error", "Not found"),
        413 => error_body("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429 => error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
        504 => error_body("timeout_error", "Request timed out"),
        529 => error_body("overloaded_error", "Overloaded"),
        _ => error_body("api_error", "Internal server error"),
    }
}

/// What the fake answers, request by request.
#[derive(Debug, Clone)]
pub struct Script {
    /// The key accepted in `x-api-key` or `Authorization: Bearer`; `None` accepts any non-empty
    /// key (a request without one is still refused).
    pub api_key: Option<String>,
    /// Taken one per request (after the header checks), in order.
    pub queue: Vec<Behaviour>,
    /// The behaviour once the queue is empty.
    pub fallback: Behaviour,
    /// The ids `GET /v1/models` lists.
    pub models: Vec<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            api_key: None,
            queue: Vec::new(),
            fallback: Behaviour::Reply(Reply::text("Hello from the fake Anthropic.")),
            models: vec!["claude-sonnet-4-6".to_owned(), "claude-haiku-4-5".to_owned()],
        }
    }
}

impl Script {
    /// Every request gets `reply`.
    pub fn reply(reply: Reply) -> Script {
        Script { fallback: Behaviour::Reply(reply), ..Script::default() }
    }

    /// These behaviours in order, then the default reply.
    pub fn queue(behaviours: impl IntoIterator<Item = Behaviour>) -> Script {
        Script { queue: behaviours.into_iter().collect(), ..Script::default() }
    }

    pub fn api_key(mut self, key: &str) -> Script {
        self.api_key = Some(key.to_owned());
        self
    }

    pub fn fallback(mut self, b: Behaviour) -> Script {
        self.fallback = b;
        self
    }
}

struct State {
    api_key: Option<String>,
    queue: Queue<Behaviour>,
    models: Vec<String>,
    ids: Ids,
}

/// A running fake Anthropic API. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct FakeAnthropic {
    server: Arc<Server>,
    state: Arc<State>,
}

impl FakeAnthropic {
    pub async fn start(script: Script) -> FakeAnthropic {
        let state = Arc::new(State {
            api_key: script.api_key,
            queue: Queue::new(script.queue, script.fallback),
            models: script.models,
            ids: Ids::default(),
        });
        let handler_state = state.clone();
        let server = Server::start(Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        }))
        .await;
        FakeAnthropic { server: Arc::new(server), state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// Answers `req` as if it had arrived here: for fronts that wrap this API (Vertex AI).
    pub(crate) async fn answer(&self, req: RecordedRequest) -> Outcome {
        handle(&self.state, req).await
    }

    /// `http://127.0.0.1:PORT` (the API paths start with `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request received so far, in arrival order (also those refused or reset).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Appends a behaviour to the queue.
    pub fn push(&self, b: Behaviour) {
        self.state.queue.push(b);
    }

    /// Behaviours still queued.
    pub fn queued(&self) -> usize {
        self.state.queue.len()
    }
}

fn request_id(state: &State) -> String {
    format!("req_fake{:022}", state.ids.next())
}

fn error_response(state: &State, status: u16, mut body: Value, retry_after: Option<String>) -> Outcome {
    let id = request_id(state);
    if body.is_object() && body.get("request_id").is_none() {
        body["request_id"] = Value::String(id.clone());
    }
    let mut headers = vec![("request-id", id)];
    if let Some(r) = retry_after {
        headers.push(("retry-after", r));
    }
    Outcome::Respond(json_response(status, &headers, &body))
}

fn invalid(state: &State, message: &str) -> Outcome {
    error_response(state, 400, error_body("invalid_request_error", message), None)
}

async fn handle(state: &State, req: RecordedRequest) -> Outcome {
    // The official Python SDK (2.x) sends its API key as `Authorization: Bearer`; older
    // clients and the API reference use `x-api-key`. Both carry the same key.
    let key = req.header("x-api-key").or_else(|| req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")));
    match (key, &state.api_key) {
        (None, _) => {
            return error_response(
                state,
                401,
                error_body("authentication_error", "x-api-key header is required"),
                None,
            );
        }
        (Some(got), Some(want)) if got != want => {
            return error_response(state, 401, error_body("authentication_error", "invalid x-api-key"), None);
        }
        (Some(""), None) => {
            return error_response(state, 401, error_body("authentication_error", "invalid x-api-key"), None);
        }
        _ => {}
    }
    if req.header("anthropic-version").is_none() {
        return invalid(state, "anthropic-version: header is required");
    }
    let endpoint = match (req.method.as_str(), req.path_only()) {
        ("POST", "/v1/messages") => Endpoint::Messages,
        ("POST", "/v1/messages/count_tokens") => Endpoint::CountTokens,
        ("GET", "/v1/models") => Endpoint::Models,
        _ => return error_response(state, 404, error_body("not_found_error", "Not Found"), None),
    };
    let behaviour = state.queue.next();
    let (reply, cut, stream_error) = match behaviour {
        Behaviour::Reset => return Outcome::Reset,
        Behaviour::Error { status, body, retry_after } => return error_response(state, status, body, retry_after),
        Behaviour::Reply(r) => (r, None, None),
        Behaviour::Cut { reply, after } => (reply, Some(after), None),
        Behaviour::StreamError { reply, after, error } => (reply, Some(after), Some(error)),
    };
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    match endpoint {
        Endpoint::Messages => messages(state, &req, &reply, cut, stream_error),
        Endpoint::CountTokens => count_tokens(state, &req, &reply),
        Endpoint::Models => models(state),
    }
}

enum Endpoint {
    Messages,
    CountTokens,
    Models,
}

const INVALID_JSON: &str = "There was an error parsing the body of your request";

/// The checks the real API makes that a translating gateway can get wrong.
/// The thinking rules Anthropic documents for tool loops: a thinking block needs the
/// signature Anthropic issued (never an empty one), and with thinking on, the last assistant
/// turn that calls tools must start with its thinking.
fn validate_thinking(obj: &serde_json::Map<String, Value>, messages: &[Value]) -> Result<(), String> {
    for (i, m) in messages.iter().enumerate() {
        for (j, b) in m["content"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            if b["type"] == "thinking" && b["signature"].as_str().is_none_or(str::is_empty) {
                return Err(format!("messages.{i}.content.{j}: Invalid `signature` in `thinking` block"));
            }
        }
    }
    let thinking_on = obj.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str) == Some("enabled");
    let last_assistant = messages.iter().enumerate().rev().find(|(_, m)| m["role"] == "assistant");
    if let (true, Some((i, m))) = (thinking_on, last_assistant) {
        let blocks = m["content"].as_array().map(Vec::as_slice).unwrap_or_default();
        let calls = blocks.iter().any(|b| b["type"] == "tool_use");
        let first = blocks.first().and_then(|b| b["type"].as_str()).unwrap_or_default();
        if calls && first != "thinking" && first != "redacted_thinking" {
            return Err(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When \
                 `thinking` is enabled, a final `assistant` message must start with a thinking block"
            ));
        }
    }
    Ok(())
}

fn validate_messages(body: &Value, count_only: bool) -> Result<(), String> {
    let Some(obj) = body.as_object() else {
        return Err(INVALID_JSON.to_owned());
    };
    if !obj.get("model").is_some_and(Value::is_string) {
        return Err("model: Field required".to_owned());
    }
    let Some(messages) = obj.get("messages") else {
        return Err("messages: Field required".to_owned());
    };
    let Some(messages) = messages.as_array() else {
        return Err("messages: Input should be a valid list".to_owned());
    };
    if !count_only {
        match obj.get("max_tokens") {
            None => return Err("max_tokens: Field required".to_owned()),
            Some(v) if v.as_u64().is_none_or(|n| n == 0) => {
                return Err("max_tokens: Input should be a valid integer greater than or equal to 1".to_owned());
            }
            Some(_) => {}
        }
        if obj.get("temperature").and_then(Value::as_f64).is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err("temperature: Input should be less than or equal to 1".to_owned());
        }
        if obj.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str) == Some("enabled") {
            let budget = body.pointer("/thinking/budget_tokens").and_then(Value::as_u64).unwrap_or(0);
            if budget < 1024 {
                return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".to_owned());
            }
            if budget >= obj.get("max_tokens").and_then(Value::as_u64).unwrap_or(0) {
                return Err("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our \
                            documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
                    .to_owned());
            }
        }
    }
    if messages.is_empty() && !count_only {
        return Err("messages: at least one message is required".to_owned());
    }
    validate_thinking(obj, messages)?;
    if let Some(system) = obj.get("system")
        && !(system.is_string() || system.is_array())
    {
        return Err("system: Input should be a valid string".to_owned());
    }
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        for (i, tool) in tools.iter().enumerate() {
            // Server tools (`type` like `web_search_20250305`) have no schema; any other type
            // (an OpenAI-shaped `function` tool, say) is refused.
            let kind = tool.get("type").and_then(Value::as_str);
            if let Some(t) = kind
                && t != "custom"
                && !is_server_tool_type(t)
            {
                return Err(format!(
                    "tools.{i}: Input tag '{t}' found using 'type' does not match any of the expected tags"
                ));
            }
            let custom = kind.is_none_or(|t| t == "custom");
            if custom && tool.get("name").and_then(Value::as_str).is_none() {
                return Err(format!("tools.{i}.custom.name: Field required"));
            }
            if custom && tool.get("input_schema").is_none() {
                return Err(format!("tools.{i}.custom.input_schema: Field required"));
            }
        }
    }
    let mut previous_tool_uses: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        match role {
            "user" | "assistant" => {}
            // Between turns, as Claude Code 2.1 sends its system reminders to Anthropic itself
            // and is answered (issue 13); a conversation cannot start with one (the system
            // prompt is the top-level `system`).
            "system" if i > 0 => {}
            "system" => {
                return Err("messages: Unexpected role \"system\". The Messages API accepts a top-level `system` \
                            parameter, not \"system\" as an input message role."
                    .to_owned());
            }
            _ => return Err(format!("messages.{i}.role: Input should be 'user' or 'assistant'")),
        }
        let blocks: Vec<&Value> = match m.get("content") {
            Some(Value::String(_)) => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(_) => return Err(format!("messages.{i}.content: Input should be a valid list")),
            None => return Err(format!("messages.{i}.content: Field required")),
        };
        let mut answered = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind == "tool_result" {
                let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or_default();
                if role != "user" || !previous_tool_uses.iter().any(|p| p == id) {
                    return Err(format!(
                        "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. \
                         Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    ));
                }
                answered.push(id.to_owned());
            }
        }
        let missing: Vec<&String> = previous_tool_uses.iter().filter(|p| !answered.contains(p)).collect();
        if !missing.is_empty() {
            let ids: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each \
                 `tool_use` block must have a corresponding `tool_result` block in the next message.",
                i - 1,
                ids.join(", ")
            ));
        }
        previous_tool_uses = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
            .filter_map(|b| b.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if role != "assistant" {
            previous_tool_uses.clear();
        }
    }
    Ok(())
}

/// `name_YYYYMMDD`: a versioned server or client tool (`web_search_20250305`, `bash_20250124`).
fn is_server_tool_type(t: &str) -> bool {
    t.rsplit_once('_')
        .is_some_and(|(name, date)| !name.is_empty() && date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
}

fn messages(
    state: &State,
    req: &RecordedRequest,
    reply: &Reply,
    cut: Option<usize>,
    stream_error: Option<Value>,
) -> Outcome {
    if req.body_is_invalid_json() {
        return invalid(state, INVALID_JSON);
    }
    if let Err(message) = validate_messages(&req.body, false) {
        return invalid(state, &message);
    }
    let model = reply.model.clone().unwrap_or_else(|| req.body["model"].as_str().unwrap_or_default().to_owned());
    let id = format!("msg_fake{:020}", state.ids.next());
    let headers = vec![("request-id", request_id(state))];
    let stream = req.body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        if let Some(error) = stream_error {
            return error_response(state, 529, error, None);
        }
        let message = message(&id, &model, reply);
        return Outcome::Respond(match cut {
            Some(_) => cut_json_response(&headers, &message),
            None => json_response(200, &headers, &message),
        });
    }
    let mut events: Vec<String> = stream_events(&id, &model, reply).iter().map(sse_event).collect();
    let pieces = match (cut, stream_error) {
        (Some(after), Some(error)) => {
            events.truncate(after);
            events.push(sse_event(&error));
            event_pieces(events, Duration::ZERO, reply.interval, None)
        }
        (cut, _) => event_pieces(events, Duration::ZERO, reply.interval, cut),
    };
    Outcome::Respond(sse_response(&headers, pieces))
}

/// `event: TYPE\ndata: JSON\n\n`.
pub fn sse_event(data: &Value) -> String {
    let name = data.get("type").and_then(Value::as_str).unwrap_or("message");
    format!("event: {name}\ndata: {data}\n\n")
}

/// The non-streamed message.
pub fn message(id: &str, model: &str, reply: &Reply) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.blocks.iter().map(Block::to_json).collect::<Vec<_>>(),
        "stop_reason": reply.effective_stop_reason(),
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage.to_json()
    })
}

/// The data objects of a streamed answer, in order (each becomes one SSE event).
pub fn stream_events(id: &str, model: &str, reply: &Reply) -> Vec<Value> {
    let mut start_usage = reply.usage.to_json();
    start_usage["output_tokens"] = json!(1);
    let mut out = vec![json!({
        "type": "message_start",
        "message": {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": start_usage
        }
    })];
    for (index, block) in reply.blocks.iter().enumerate() {
        let delta = |d: Value| json!({"type": "content_block_delta", "index": index, "delta": d});
        match block {
            Block::Text { text, chunks } => {
                out.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}));
                if index == 0 {
                    out.push(json!({"type": "ping"}));
                }
                for piece in split_chunks(text, *chunks) {
                    out.push(delta(json!({"type": "text_delta", "text": piece})));
                }
            }
            Block::Thinking { thinking, signature, chunks } => {
                out.push(json!({
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": ""}
                }));
                if index == 0 {
                    out.push(json!({"type": "ping"}));
                }
                for piece in split_chunks(thinking, *chunks) {
                    out.push(delta(json!({"type": "thinking_delta", "thinking": piece})));
                }
                out.push(delta(json!({"type": "signature_delta", "signature": signature})));
            }
            Block::ToolUse { id, name, input, chunks } => {
                out.push(json!({
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}
                }));
                if index == 0 {
                    out.push(json!({"type": "ping"}));
                }
                out.push(delta(json!({"type": "input_json_delta", "partial_json": ""})));
                for piece in split_chunks(&input.to_string(), *chunks) {
                    out.push(delta(json!({"type": "input_json_delta", "partial_json": piece})));
                }
            }
        }
        out.push(json!({"type": "content_block_stop", "index": index}));
    }
    let usage = if reply.full_delta_usage {
        json!({
            "input_tokens": reply.usage.input_tokens,
            "cache_creation_input_tokens": reply.usage.cache_creation_input_tokens,
            "cache_read_input_tokens": reply.usage.cache_read_input_tokens,
            "output_tokens": reply.usage.output_tokens
        })
    } else {
        json!({"output_tokens": reply.usage.output_tokens})
    };
    out.push(json!({
        "type": "message_delta",
        "delta": {"stop_reason": reply.effective_stop_reason(), "stop_sequence": reply.stop_sequence},
        "usage": usage
    }));
    out.push(json!({"type": "message_stop"}));
    out
}

fn count_tokens(state: &State, req: &RecordedRequest, reply: &Reply) -> Outcome {
    if req.body_is_invalid_json() {
        return invalid(state, INVALID_JSON);
    }
    if let Err(message) = validate_messages(&req.body, true) {
        return invalid(state, &message);
    }
    let input_tokens = if reply.usage.input_tokens > 0 {
        reply.usage.input_tokens
    } else {
        let mut text = all_text(&req.body["messages"]);
        text.push_str(&all_text(&req.body["system"]));
        text.push_str(&all_text(&req.body["tools"]));
        estimate_tokens(&text)
    };
    let headers = vec![("request-id", request_id(state))];
    Outcome::Respond(json_response(200, &headers, &json!({"input_tokens": input_tokens})))
}

fn models(state: &State) -> Outcome {
    let data: Vec<Value> = state
        .models
        .iter()
        .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"}))
        .collect();
    let body = json!({
        "data": data,
        "has_more": false,
        "first_id": state.models.first(),
        "last_id": state.models.last()
    });
    let headers = vec![("request-id", request_id(state))];
    Outcome::Respond(json_response(200, &headers, &body))
}
