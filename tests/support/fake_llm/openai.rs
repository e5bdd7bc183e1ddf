//! A fake OpenAI API: `POST /v1/chat/completions` (JSON, or SSE `data: {chunk}` lines ending
//! with `data: [DONE]`), `POST /v1/embeddings`, `GET /v1/models`, and errors shaped
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Wire details it follows:
//! - Streamed chunks are `chat.completion.chunk` objects; the first delta carries
//!   `role: assistant`; text arrives as `delta.content` pieces; tool calls as
//!   `delta.tool_calls[{index, id, type, function: {name, arguments: ""}}]` followed by
//!   `{index, function: {arguments: fragment}}` pieces; the last choice chunk has an empty delta
//!   and `finish_reason`.
//! - With `stream_options.include_usage: true`, every chunk carries `"usage": null` and one more
//!   chunk with `"choices": []` and the usage comes before `data: [DONE]`; without it, no chunk
//!   has a `usage` key.
//! - Chunks carry an `obfuscation` padding field unless `stream_options.include_obfuscation` is
//!   false.
//! - Embeddings honour `encoding_format: "base64"` (little-endian f32, which the Python SDK asks
//!   for by default) and `dimensions`.
//! - `stream_options` without `stream: true`, a `tool` message not answering a preceding
//!   `tool_calls`, and an assistant `tool_calls` left without answers are rejected with 400 as
//!   the real API does.
//!
//! With [`Script::azure`] it plays an Azure OpenAI resource's v1 API instead: the same bodies
//! under `/openai/v1/…`, the key in `api-key` (or a bearer token), an optional `api-version`
//! query that must be one the resource knows, the `model` naming a deployment
//! (`404 DeploymentNotFound` otherwise), and Azure's error shape `{"error": {"code", "message"}}`
//! for those checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    Ids, Outcome, Queue, RecordedRequest, Server, all_text, cut_json_response, estimate_tokens, event_pieces,
    json_response, split_chunks, sse_response,
};

/// The fixed `created` timestamp of every object the fake returns.
pub const CREATED: u64 = 1_735_689_600;

/// Token usage, as OpenAI reports it (`total_tokens` is prompt + completion).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `prompt_tokens_details.cached_tokens` (part of `prompt_tokens`).
    pub cached_tokens: u64,
    /// `completion_tokens_details.reasoning_tokens` (part of `completion_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage { prompt_tokens, completion_tokens, ..Usage::default() }
    }

    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The `usage` object of a response or of the final stream chunk.
    pub fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens(),
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }
}

/// One function call of the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the JSON text the model produced.
    pub arguments: String,
    /// The number of `arguments` fragments in a stream.
    pub chunks: usize,
}

impl ToolCall {
    pub fn new(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall { id: id.to_owned(), name: name.to_owned(), arguments: arguments.to_owned(), chunks: 3 }
    }

    pub fn chunks(mut self, n: usize) -> ToolCall {
        self.chunks = n;
        self
    }
}

/// A successful chat answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The `model` the answer names; `None`: the request's.
    pub model: Option<String>,
    /// The assistant text; `None` gives `content: null` (tool calls only).
    pub content: Option<String>,
    /// The number of `delta.content` pieces the text is split into when streamed.
    pub chunks: usize,
    pub tool_calls: Vec<ToolCall>,
    /// `None`: `tool_calls` when there are tool calls, else `stop`.
    pub finish_reason: Option<String>,
    pub usage: Usage,
    /// Pause between stream events.
    pub interval: Duration,
    /// Pause before the response head.
    pub first_byte_delay: Duration,
}

impl Reply {
    /// A text answer in 3 stream chunks, with usage 11 prompt / 7 completion tokens.
    pub fn text(text: &str) -> Reply {
        Reply {
            model: None,
            content: Some(text.to_owned()),
            chunks: 3,
            tool_calls: Vec::new(),
            finish_reason: None,
            usage: Usage::new(11, 7),
            interval: Duration::ZERO,
            first_byte_delay: Duration::ZERO,
        }
    }

    /// An answer made only of tool calls (`content: null`, `finish_reason: tool_calls`).
    pub fn tool_calls(calls: Vec<ToolCall>) -> Reply {
        Reply { content: None, tool_calls: calls, ..Reply::text("") }
    }

    pub fn with_tool_call(mut self, call: ToolCall) -> Reply {
        self.tool_calls.push(call);
        self
    }

    pub fn chunks(mut self, n: usize) -> Reply {
        self.chunks = n;
        self
    }

    pub fn usage(mut self, usage: Usage) -> Reply {
        self.usage = usage;
        self
    }

    pub fn finish(mut self, reason: &str) -> Reply {
        self.finish_reason = Some(reason.to_owned());
        self
    }

    pub fn model(mut self, model: &str) -> Reply {
        self.model = Some(model.to_owned());
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

    /// The finish reason the fake sends.
    pub fn effective_finish_reason(&self) -> String {
        match &self.finish_reason {
            Some(r) => r.clone(),
            None if !self.tool_calls.is_empty() => "tool_calls".to_owned(),
            None => "stop".to_owned(),
        }
    }
}

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answer: chat from the reply (streamed when the request says `stream: true`); embeddings
    /// and models from the request and the script (the reply's `usage.prompt_tokens` is the
    /// embeddings' usage).
    Reply(Reply),
    /// An HTTP error: `body` as given (see [`error_body`]), with `Retry-After` when set.
    Error { status: u16, body: Value, retry_after: Option<String> },
    /// Read the request, then close the connection with a TCP RST before any response byte.
    Reset,
    /// Send the first `after` stream events (a non-streamed answer: half of its body), then
    /// drop the connection.
    Cut { reply: Reply, after: usize },
    /// Send the first `after` stream events, then `data: {"error": …}` and end the stream
    /// without `[DONE]` (a non-streamed request gets the error as a 500).
    StreamError { reply: Reply, after: usize, error: Value },
}

impl Behaviour {
    /// An error with OpenAI's body for `status` (see [`status_error`]).
    pub fn status(status: u16) -> Behaviour {
        Behaviour::Error { status, body: status_error(status), retry_after: None }
    }

    /// An error with the given fields.
    pub fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Behaviour {
        Behaviour::Error { status, body: error_body(message, kind, None, code), retry_after: None }
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

/// OpenAI's error body.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// The body OpenAI sends for common statuses.
pub fn status_error(status: u16) -> Value {
    match status {
        400 => error_body("Invalid request.", "invalid_request_error", None, None),
        401 => error_body(
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        403 => error_body("You are not allowed to sample from this model", "invalid_request_error", None, None),
        404 => error_body(
            "The model `gpt-unknown` does not exist or you do not have access to it.",
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ),
        429 => error_body(
            "Rate limit reached for requests. Please try again in 1s.",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        500 => error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        503 => error_body("The engine is currently overloaded, please try again later.", "server_error", None, None),
        _ => error_body("The server had an error processing your request.", "server_error", None, None),
    }
}

/// Azure OpenAI mode (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Azure {
    /// The deployment names `model` may take.
    pub deployments: Vec<String>,
    /// The `api-version` values accepted (a request without one is accepted too).
    pub api_versions: Vec<String>,
}

impl Azure {
    pub fn deployments(names: &[&str]) -> Azure {
        Azure {
            deployments: names.iter().map(|n| (*n).to_owned()).collect(),
            api_versions: vec!["preview".to_owned(), "latest".to_owned()],
        }
    }
}

/// Azure's error body.
pub fn azure_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// What the fake answers, request by request.
#[derive(Debug, Clone)]
pub struct Script {
    /// The key accepted as `Authorization: Bearer <key>`; `None` accepts any key (a request
    /// without one is still refused, as the real API does).
    pub api_key: Option<String>,
    /// Taken one per request (after authentication), in order.
    pub queue: Vec<Behaviour>,
    /// The behaviour once the queue is empty.
    pub fallback: Behaviour,
    /// The ids `GET /v1/models` lists.
    pub models: Vec<String>,
    /// An embedding's length when the request has no `dimensions`.
    pub embedding_dims: usize,
    /// Play an Azure OpenAI resource (v1 API) instead of OpenAI.
    pub azure: Option<Azure>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            api_key: None,
            queue: Vec::new(),
            fallback: Behaviour::Reply(Reply::text("Hello from the fake OpenAI.")),
            models: vec!["gpt-4o".to_owned(), "gpt-4o-mini".to_owned(), "text-embedding-3-small".to_owned()],
            embedding_dims: 8,
            azure: None,
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

    /// Plays an Azure OpenAI resource with these deployments.
    pub fn azure(mut self, azure: Azure) -> Script {
        self.azure = Some(azure);
        self
    }
}

struct State {
    api_key: Option<String>,
    queue: Queue<Behaviour>,
    models: Vec<String>,
    embedding_dims: usize,
    azure: Option<Azure>,
    ids: Ids,
}

/// A running fake OpenAI API. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct FakeOpenAi {
    server: Arc<Server>,
    state: Arc<State>,
}

impl FakeOpenAi {
    pub async fn start(script: Script) -> FakeOpenAi {
        let state = Arc::new(State {
            api_key: script.api_key,
            queue: Queue::new(script.queue, script.fallback),
            models: script.models,
            embedding_dims: script.embedding_dims,
            azure: script.azure,
            ids: Ids::default(),
        });
        let handler_state = state.clone();
        let server = Server::start(Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        }))
        .await;
        FakeOpenAi { server: Arc::new(server), state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// `http://127.0.0.1:PORT` (the API paths start with `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request received so far, in arrival order (also those answered 401 or reset).
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

fn headers(state: &State) -> Vec<(&'static str, String)> {
    vec![
        ("x-request-id", format!("req_fake{:024}", state.ids.next())),
        ("openai-processing-ms", "1".to_owned()),
        ("openai-version", "2020-10-01".to_owned()),
    ]
}

fn error_response(state: &State, status: u16, body: Value) -> Outcome {
    Outcome::Respond(json_response(status, &headers(state), &body))
}

fn bad_request(state: &State, message: &str, param: Option<&str>, code: Option<&str>) -> Outcome {
    error_response(state, 400, error_body(message, "invalid_request_error", param, code))
}

async fn handle(state: &State, req: RecordedRequest) -> Outcome {
    if let Some(azure) = &state.azure {
        return match azure_checks(state, azure, &req) {
            Ok(endpoint) => respond(state, &req, endpoint).await,
            Err(outcome) => *outcome,
        };
    }
    // Authentication comes first, as on the real API.
    let bearer = req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match (&state.api_key, bearer) {
        (_, None) => {
            return error_response(
                state,
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an Authorization header \
                     using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    None,
                    None,
                ),
            );
        }
        (Some(want), Some(got)) if want != got => {
            return error_response(
                state,
                401,
                error_body(
                    &format!(
                        "Incorrect API key provided: {}. You can find your API key at \
                         https://platform.openai.com/account/api-keys.",
                        redact(got)
                    ),
                    "invalid_request_error",
                    None,
                    Some("invalid_api_key"),
                ),
            );
        }
        _ => {}
    }
    let endpoint = match (req.method.as_str(), req.path_only()) {
        ("POST", "/v1/chat/completions") => Endpoint::Chat,
        ("POST", "/v1/embeddings") => Endpoint::Embeddings,
        ("POST", "/v1/moderations") => Endpoint::Moderations,
        ("GET", "/v1/models") => Endpoint::Models,
        (method, path) => {
            return error_response(
                state,
                404,
                error_body(&format!("Invalid URL ({method} {path})"), "invalid_request_error", None, None),
            );
        }
    };
    respond(state, &req, endpoint).await
}

/// Azure's checks, in its order: the key, the path, the `api-version`, the deployment.
fn azure_checks(state: &State, azure: &Azure, req: &RecordedRequest) -> Result<Endpoint, Box<Outcome>> {
    let key = req
        .header("api-key")
        .or_else(|| req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")))
        .map(str::trim);
    let key_ok = match (&state.api_key, key) {
        (_, None) => false,
        (Some(want), Some(got)) => want == got,
        (None, Some(got)) => !got.is_empty(),
    };
    if !key_ok {
        let message = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a \
                       valid key for an active subscription and use a correct regional API endpoint for your resource.";
        return Err(Box::new(error_response(state, 401, azure_error("401", message))));
    }
    let endpoint = match (req.method.as_str(), req.path_only()) {
        ("POST", "/openai/v1/chat/completions") => Endpoint::Chat,
        ("POST", "/openai/v1/embeddings") => Endpoint::Embeddings,
        ("GET", "/openai/v1/models") => Endpoint::Models,
        _ => return Err(Box::new(error_response(state, 404, azure_error("404", "Resource not found")))),
    };
    let query = req.path.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = pair.strip_prefix("api-version=")
            && !azure.api_versions.iter().any(|a| a == v)
        {
            return Err(Box::new(error_response(state, 400, azure_error("BadRequest", "API version not supported"))));
        }
    }
    if !matches!(endpoint, Endpoint::Models) {
        let model = req.body.get("model").and_then(Value::as_str).unwrap_or_default();
        if !azure.deployments.iter().any(|d| d == model) {
            let message = "The API deployment for this resource does not exist. If you created the deployment within \
                           the last 5 minutes, please wait a moment and try again.";
            return Err(Box::new(error_response(state, 404, azure_error("DeploymentNotFound", message))));
        }
    }
    Ok(endpoint)
}

/// Answers an authenticated request for `endpoint` from the script.
async fn respond(state: &State, req: &RecordedRequest, endpoint: Endpoint) -> Outcome {
    // The script is for generation; moderation answers by its own rule.
    if let Endpoint::Moderations = endpoint {
        return moderations(state, req);
    }
    let behaviour = state.queue.next();
    let (reply, cut, stream_error) = match behaviour {
        Behaviour::Reset => return Outcome::Reset,
        Behaviour::Error { status, body, retry_after } => {
            let mut h = headers(state);
            if let Some(r) = retry_after {
                h.push(("retry-after", r));
            }
            return Outcome::Respond(json_response(status, &h, &body));
        }
        Behaviour::Reply(r) => (r, None, None),
        Behaviour::Cut { reply, after } => (reply, Some(after), None),
        Behaviour::StreamError { reply, after, error } => (reply, Some(after), Some(error)),
    };
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    match endpoint {
        Endpoint::Chat => chat(state, req, &reply, cut, stream_error),
        Endpoint::Embeddings => embeddings(state, req, &reply),
        Endpoint::Models => models(state),
        Endpoint::Moderations => moderations(state, req),
    }
}

enum Endpoint {
    Chat,
    Embeddings,
    Moderations,
    Models,
}

/// The categories of OpenAI's moderation results.
const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// `POST /v1/moderations` (OpenAI's published shape: one result per input, with `flagged`,
/// `categories` and `category_scores`). The fake's classifier is a rule, not a model: a text
/// with "attack" scores 0.92 for violence, one with "hate" 0.40 for hate, every other score is
/// 0.01; a result is flagged at 0.5.
fn moderations(state: &State, req: &RecordedRequest) -> Outcome {
    if req.body_is_invalid_json() {
        return bad_request(state, INVALID_JSON, None, None);
    }
    let inputs: Vec<String> = match req.body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect(),
        _ => {
            return bad_request(
                state,
                "Missing required parameter: 'input'.",
                Some("input"),
                Some("missing_required_parameter"),
            );
        }
    };
    let results: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let lower = text.to_lowercase();
            let score = |c: &str| match c {
                "violence" if lower.contains("attack") => 0.92,
                "hate" if lower.contains("hate") => 0.40,
                _ => 0.01,
            };
            let scores: serde_json::Map<String, Value> =
                MODERATION_CATEGORIES.iter().map(|c| (c.to_string(), json!(score(c)))).collect();
            let flags: serde_json::Map<String, Value> =
                MODERATION_CATEGORIES.iter().map(|c| (c.to_string(), json!(score(c) >= 0.5))).collect();
            let flagged = flags.values().any(|v| v == &json!(true));
            json!({"flagged": flagged, "categories": flags, "category_scores": scores})
        })
        .collect();
    let model = req.body.get("model").and_then(Value::as_str).unwrap_or("omni-moderation-latest");
    let body = json!({"id": "modr-fake", "model": model, "results": results});
    Outcome::Respond(json_response(200, &headers(state), &body))
}

/// `sk-abc…wxyz` as OpenAI prints a wrong key.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return key.to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}*****{tail}")
}

const INVALID_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
                            using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was \
                            sent was not valid JSON. If you have trouble figuring out how to fix this, please contact \
                            us through our help center at help.openai.com.)";

/// The checks the real API makes that a translating gateway can get wrong.
fn validate_chat(body: &Value) -> Result<(), (String, Option<String>, Option<String>)> {
    let err =
        |m: &str, p: Option<&str>, c: Option<&str>| Err((m.to_owned(), p.map(str::to_owned), c.map(str::to_owned)));
    let Some(obj) = body.as_object() else {
        return err(INVALID_JSON, None, None);
    };
    if !obj.get("model").is_some_and(Value::is_string) {
        return err("you must provide a model parameter", None, None);
    }
    let Some(messages) = obj.get("messages") else {
        return err("Missing required parameter: 'messages'.", Some("messages"), Some("missing_required_parameter"));
    };
    let Some(messages) = messages.as_array() else {
        return err(
            &format!("Invalid type for 'messages': expected an array, but got {} instead.", type_name(messages)),
            Some("messages"),
            Some("invalid_type"),
        );
    };
    if messages.is_empty() {
        return err(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        );
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if obj.get("stream_options").is_some_and(|v| !v.is_null()) && !stream {
        return err(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        );
    }
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        for (i, tool) in tools.iter().enumerate() {
            if tool.pointer("/function/name").and_then(Value::as_str).is_none() {
                return err(
                    &format!("Missing required parameter: 'tools[{i}].function'."),
                    Some(&format!("tools[{i}].function")),
                    Some("missing_required_parameter"),
                );
            }
        }
    }
    // Tool-call bookkeeping: every `tool` message answers an id of the latest assistant
    // `tool_calls`, and every such id is answered before the next non-tool message.
    let mut pending: Vec<String> = Vec::new();
    let mut pending_from = 0;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "system" | "developer" | "user" | "assistant" | "tool" | "function") {
            return err(
                &format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', \
                     'tool', and 'developer'."
                ),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            );
        }
        if role == "tool" {
            let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
            if let Some(pos) = pending.iter().position(|p| p == id) {
                pending.remove(pos);
                continue;
            }
            return err(
                "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with \
                 'tool_calls'.",
                Some(&format!("messages.[{i}].role")),
                None,
            );
        }
        if !pending.is_empty() {
            return err(
                &format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
                     'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    pending.join(", ")
                ),
                Some(&format!("messages.[{pending_from}].role")),
                None,
            );
        }
        if role == "assistant"
            && let Some(calls) = m.get("tool_calls").and_then(Value::as_array)
        {
            pending = calls.iter().filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
            pending_from = i;
        }
    }
    if !pending.is_empty() {
        return err(
            &format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
                 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                pending.join(", ")
            ),
            Some(&format!("messages.[{pending_from}].role")),
            None,
        );
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn chat(
    state: &State,
    req: &RecordedRequest,
    reply: &Reply,
    cut: Option<usize>,
    stream_error: Option<Value>,
) -> Outcome {
    if req.body_is_invalid_json() {
        return bad_request(state, INVALID_JSON, None, None);
    }
    if let Err((message, param, code)) = validate_chat(&req.body) {
        return bad_request(state, &message, param.as_deref(), code.as_deref());
    }
    let body = &req.body;
    let model = reply.model.clone().unwrap_or_else(|| body["model"].as_str().unwrap_or_default().to_owned());
    let id = format!("chatcmpl-fake{}", state.ids.next());
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        if let Some(error) = stream_error {
            return error_response(state, 500, error);
        }
        let resp = completion(&id, &model, reply);
        return Outcome::Respond(match cut {
            Some(_) => cut_json_response(&headers(state), &resp),
            None => json_response(200, &headers(state), &resp),
        });
    }
    let include_usage = body.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let obfuscate = body.pointer("/stream_options/include_obfuscation").and_then(Value::as_bool).unwrap_or(true);
    let mut events: Vec<String> =
        chunks(&id, &model, reply, include_usage, obfuscate).iter().map(|c| format!("data: {c}\n\n")).collect();
    events.push("data: [DONE]\n\n".to_owned());
    let pieces = match (cut, stream_error) {
        (Some(after), Some(error)) => {
            events.truncate(after);
            events.push(format!("data: {error}\n\n"));
            event_pieces(events, Duration::ZERO, reply.interval, None)
        }
        (cut, _) => event_pieces(events, Duration::ZERO, reply.interval, cut),
    };
    Outcome::Respond(sse_response(&headers(state), pieces))
}

/// The non-streamed `chat.completion` object.
pub fn completion(id: &str, model: &str, reply: &Reply) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": reply.content,
        "refusal": null,
        "annotations": []
    });
    if !reply.tool_calls.is_empty() {
        message["tool_calls"] = reply
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": reply.effective_finish_reason()
        }],
        "usage": reply.usage.to_json(),
        "service_tier": "default",
        "system_fingerprint": "fp_fake"
    })
}

/// The `chat.completion.chunk` objects of a streamed answer (without `[DONE]`).
pub fn chunks(id: &str, model: &str, reply: &Reply, include_usage: bool, obfuscate: bool) -> Vec<Value> {
    let mut n = 0usize;
    let chunk = |choices: Value, usage: Option<Value>, n: &mut usize| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
            "choices": choices
        });
        if include_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        if obfuscate {
            *n += 1;
            c["obfuscation"] = Value::String("x".repeat(*n % 7 + 1));
        }
        c
    };
    let choice = |delta: Value, finish: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut out = Vec::new();
    let text = reply.content.as_deref().unwrap_or_default();
    let pieces = split_chunks(text, reply.chunks);
    // The first chunk announces the role; with no text it also carries the first tool call.
    if reply.content.is_some() || reply.tool_calls.is_empty() {
        out.push(chunk(choice(json!({"role": "assistant", "content": "", "refusal": null}), None), None, &mut n));
        for p in &pieces {
            out.push(chunk(choice(json!({"content": p}), None), None, &mut n));
        }
    }
    let mut first = reply.content.is_none() && !reply.tool_calls.is_empty();
    for (index, call) in reply.tool_calls.iter().enumerate() {
        let head = json!({
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""}
        });
        let delta = if first {
            first = false;
            json!({"role": "assistant", "content": null, "tool_calls": [head], "refusal": null})
        } else {
            json!({"tool_calls": [head]})
        };
        out.push(chunk(choice(delta, None), None, &mut n));
        for fragment in split_chunks(&call.arguments, call.chunks) {
            let delta = json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]});
            out.push(chunk(choice(delta, None), None, &mut n));
        }
    }
    let finish = reply.effective_finish_reason();
    out.push(chunk(choice(json!({}), Some(&finish)), None, &mut n));
    if include_usage {
        out.push(chunk(json!([]), Some(reply.usage.to_json()), &mut n));
    }
    out
}

fn embeddings(state: &State, req: &RecordedRequest, reply: &Reply) -> Outcome {
    if req.body_is_invalid_json() {
        return bad_request(state, INVALID_JSON, None, None);
    }
    let body = &req.body;
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return bad_request(state, "you must provide a model parameter", None, None);
    };
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => match &items[0] {
            // One input given as token ids.
            Value::Number(_) => vec![Value::Array(items.clone()).to_string()],
            _ => items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect(),
        },
        Some(_) => {
            return bad_request(state, "'$.input' is invalid. Please check the API reference.", Some("input"), None);
        }
        None => {
            return bad_request(
                state,
                "Missing required parameter: 'input'.",
                Some("input"),
                Some("missing_required_parameter"),
            );
        }
    };
    let dims = body.get("dimensions").and_then(Value::as_u64).map_or(state.embedding_dims, |d| d as usize);
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embedding_vector(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let prompt_tokens = if reply.usage.prompt_tokens > 0 {
        reply.usage.prompt_tokens
    } else {
        inputs.iter().map(|t| estimate_tokens(t)).sum()
    };
    let resp = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    });
    Outcome::Respond(json_response(200, &headers(state), &resp))
}

/// A deterministic unit-ish vector for `text` (values exactly representable in f32).
pub fn embedding_vector(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a over the text, then a simple LCG: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..dims)
        .map(|_| {
            h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // A multiple of 1/1024 in [-1, 1).
            ((h >> 54) as f32 - 512.0) / 512.0
        })
        .collect()
}

fn models(state: &State) -> Outcome {
    let data: Vec<Value> = state
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": CREATED, "owned_by": "openai"}))
        .collect();
    Outcome::Respond(json_response(200, &headers(state), &json!({"object": "list", "data": data})))
}

/// Convenience for tests: the text of all request messages (e.g. to check a translation kept
/// every part).
pub fn request_text(req: &RecordedRequest) -> String {
    all_text(&req.body["messages"])
}
