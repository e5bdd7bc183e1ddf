//! A fake Gemini API (v1beta): `POST /v1beta/models/{model}:generateContent`,
//! `POST /v1beta/models/{model}:streamGenerateContent` (server-sent events with `?alt=sse`, a
//! streamed JSON array without), `GET /v1beta/models`, and errors shaped
//! `{"error": {"code", "message", "status", "details"}}`.
//!
//! Wire details it follows:
//! - The key comes in `x-goog-api-key` (or a `key` query parameter). Without one: 403
//!   `PERMISSION_DENIED`; a wrong one: 400 `INVALID_ARGUMENT` "API key not valid" with an
//!   `API_KEY_INVALID` `ErrorInfo` detail. A model it does not list: 404 `NOT_FOUND`.
//! - A response is `candidates[{content: {role: model, parts}, finishReason, index}]`,
//!   `usageMetadata` (`promptTokenCount` including `cachedContentTokenCount`,
//!   `candidatesTokenCount`, `thoughtsTokenCount`, `totalTokenCount`; zero classes left out),
//!   `modelVersion` and `responseId`. Function calls carry no id unless the script gives one.
//! - A stream is a series of whole `GenerateContentResponse` objects, `data: {…}` each, framed
//!   with CRLF and with no end marker: text and thoughts in pieces, a function call whole in
//!   its own event, every event with the usage so far (cumulative), the last one with the
//!   `finishReason` and the final usage.
//! - The request checks of [`super::gemini_checks`]: unknown field names, part `oneof` data,
//!   roles, function call/response pairing, ranges, thought signatures on Gemini 3.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::gemini_checks::validate;
use super::{
    Ids, Outcome, Queue, RecordedRequest, Server, cut_json_response, event_pieces, json_response, split_chunks,
    sse_response,
};

/// Token usage as Gemini reports it: `prompt_token_count` includes the cached tokens;
/// thoughts are counted apart from the candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub cached_content_token_count: u64,
    pub thoughts_token_count: u64,
}

impl Usage {
    pub fn new(prompt: u64, candidates: u64) -> Usage {
        Usage { prompt_token_count: prompt, candidates_token_count: candidates, ..Usage::default() }
    }

    pub fn total(&self) -> u64 {
        self.prompt_token_count + self.candidates_token_count + self.thoughts_token_count
    }

    /// `usageMetadata` with the output classes scaled to `done` of `of` events.
    fn partial(self, done: usize, of: usize) -> Value {
        let scale = |n: u64| (n * done as u64).div_ceil(of.max(1) as u64);
        Usage {
            candidates_token_count: scale(self.candidates_token_count),
            thoughts_token_count: scale(self.thoughts_token_count),
            ..self
        }
        .to_json()
    }

    pub fn to_json(self) -> Value {
        let mut v = json!({
            "promptTokenCount": self.prompt_token_count,
            "candidatesTokenCount": self.candidates_token_count,
            "totalTokenCount": self.total(),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_token_count}],
        });
        if self.cached_content_token_count > 0 {
            v["cachedContentTokenCount"] = json!(self.cached_content_token_count);
            v["cacheTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": self.cached_content_token_count}]);
        }
        if self.thoughts_token_count > 0 {
            v["thoughtsTokenCount"] = json!(self.thoughts_token_count);
        }
        v
    }
}

/// One part of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text {
        text: String,
        chunks: usize,
    },
    /// A thought summary (`thought: true`), with the signature on its last piece.
    Thought {
        text: String,
        chunks: usize,
        signature: Option<String>,
    },
    Call {
        name: String,
        args: Value,
        id: Option<String>,
        signature: Option<String>,
    },
}

impl Part {
    pub fn text(text: &str) -> Part {
        Part::Text { text: text.to_owned(), chunks: 3 }
    }

    pub fn thought(text: &str) -> Part {
        Part::Thought { text: text.to_owned(), chunks: 2, signature: None }
    }

    pub fn call(name: &str, args: Value) -> Part {
        Part::Call { name: name.to_owned(), args, id: None, signature: None }
    }

    /// The number of stream events a text or thought is split into.
    pub fn chunks(self, n: usize) -> Part {
        match self {
            Part::Text { text, .. } => Part::Text { text, chunks: n },
            Part::Thought { text, signature, .. } => Part::Thought { text, chunks: n, signature },
            call @ Part::Call { .. } => call,
        }
    }

    pub fn signature(self, s: &str) -> Part {
        match self {
            Part::Thought { text, chunks, .. } => Part::Thought { text, chunks, signature: Some(s.to_owned()) },
            Part::Call { name, args, id, .. } => Part::Call { name, args, id, signature: Some(s.to_owned()) },
            text @ Part::Text { .. } => text,
        }
    }

    /// The part whole, or its `n`-th piece of `text` in a stream.
    fn to_json(&self, piece: Option<&str>, last: bool) -> Value {
        match self {
            Part::Text { text, .. } => json!({"text": piece.unwrap_or(text)}),
            Part::Thought { text, signature, .. } => {
                let mut v = json!({"text": piece.unwrap_or(text), "thought": true});
                if let (Some(s), true) = (signature, last) {
                    v["thoughtSignature"] = json!(s);
                }
                v
            }
            Part::Call { name, args, id, signature } => {
                let mut call = json!({"name": name, "args": args});
                if let Some(id) = id {
                    call["id"] = json!(id);
                }
                let mut v = json!({"functionCall": call});
                if let Some(s) = signature {
                    v["thoughtSignature"] = json!(s);
                }
                v
            }
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `modelVersion`; `None`: the model of the path.
    pub model_version: Option<String>,
    pub parts: Vec<Part>,
    pub finish_reason: String,
    pub usage: Usage,
    pub interval: Duration,
    pub first_byte_delay: Duration,
}

impl Reply {
    /// A text answer in 3 stream pieces, usage 17 prompt / 8 candidates tokens.
    pub fn text(text: &str) -> Reply {
        Reply::parts(vec![Part::text(text)])
    }

    pub fn parts(parts: Vec<Part>) -> Reply {
        Reply {
            model_version: None,
            parts,
            finish_reason: "STOP".to_owned(),
            usage: Usage::new(17, 8),
            interval: Duration::ZERO,
            first_byte_delay: Duration::ZERO,
        }
    }

    pub fn usage(mut self, usage: Usage) -> Reply {
        self.usage = usage;
        self
    }

    pub fn finish(mut self, reason: &str) -> Reply {
        self.finish_reason = reason.to_owned();
        self
    }

    pub fn model_version(mut self, m: &str) -> Reply {
        self.model_version = Some(m.to_owned());
        self
    }

    pub fn interval(mut self, d: Duration) -> Reply {
        self.interval = d;
        self
    }
}

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    Reply(Reply),
    /// An HTTP error with `body` (see [`error_body`]), and `Retry-After` when set.
    Error {
        status: u16,
        body: Value,
        retry_after: Option<String>,
    },
    /// Close the connection with a TCP RST before any response byte.
    Reset,
    /// Send the first `after` stream events (a non-streamed answer: half its body), then drop
    /// the connection.
    Cut {
        reply: Reply,
        after: usize,
    },
    /// Send the first `after` stream events, then `data: {"error": …}` and end the stream (a
    /// non-streamed request gets the error with its code as the status).
    StreamError {
        reply: Reply,
        after: usize,
        error: Value,
    },
}

impl Behaviour {
    pub fn status(code: u16) -> Behaviour {
        Behaviour::Error { status: code, body: status_error(code), retry_after: None }
    }

    pub fn error(code: u16, status: &str, message: &str) -> Behaviour {
        Behaviour::Error { status: code, body: error_body(code, status, message), retry_after: None }
    }
}

/// Google's error body.
pub fn error_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

/// The body Gemini sends for common statuses.
pub fn status_error(code: u16) -> Value {
    match code {
        400 => error_body(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        403 => error_body(403, "PERMISSION_DENIED", "The caller does not have permission"),
        404 => error_body(404, "NOT_FOUND", "Requested entity was not found."),
        429 => {
            let mut b = error_body(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
            );
            b["error"]["details"] = json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]);
            b
        }
        503 => error_body(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        504 => error_body(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        _ => error_body(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
    }
}

/// What the fake answers, request by request.
#[derive(Debug, Clone)]
pub struct Script {
    /// The key accepted; `None` accepts any (a request without one is still refused).
    pub api_key: Option<String>,
    pub queue: Vec<Behaviour>,
    pub fallback: Behaviour,
    /// The models it serves (ids without `models/`).
    pub models: Vec<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            api_key: None,
            queue: Vec::new(),
            fallback: Behaviour::Reply(Reply::text("Hello from the fake Gemini.")),
            models: vec![
                "gemini-2.5-flash".to_owned(),
                "gemini-2.5-pro".to_owned(),
                "gemini-3-pro-preview".to_owned(),
                "gemini-embedding-001".to_owned(),
            ],
        }
    }
}

impl Script {
    pub fn reply(reply: Reply) -> Script {
        Script { fallback: Behaviour::Reply(reply), ..Script::default() }
    }

    pub fn queue(behaviours: impl IntoIterator<Item = Behaviour>) -> Script {
        Script { queue: behaviours.into_iter().collect(), ..Script::default() }
    }

    pub fn api_key(mut self, key: &str) -> Script {
        self.api_key = Some(key.to_owned());
        self
    }
}

struct State {
    api_key: Option<String>,
    queue: Queue<Behaviour>,
    models: Vec<String>,
    ids: Ids,
}

/// A running fake Gemini API. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct FakeGemini {
    server: Arc<Server>,
    state: Arc<State>,
}

impl FakeGemini {
    pub async fn start(script: Script) -> FakeGemini {
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
        FakeGemini { server: Arc::new(server), state }
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

    /// `http://127.0.0.1:PORT` (the API paths start with `/v1beta`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    pub fn push(&self, b: Behaviour) {
        self.state.queue.push(b);
    }

    pub fn queued(&self) -> usize {
        self.state.queue.len()
    }
}

fn headers() -> Vec<(&'static str, String)> {
    vec![("vary", "Origin, X-Origin, Referer".to_owned()), ("server", "scaffolding on HTTPServer2".to_owned())]
}

fn error(status: u16, body: Value) -> Outcome {
    Outcome::Respond(json_response(status, &headers(), &body))
}

fn query_param<'a>(req: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    let query = req.path.split_once('?').map(|(_, q)| q)?;
    query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

async fn handle(state: &State, req: RecordedRequest) -> Outcome {
    let key = req.header("x-goog-api-key").or_else(|| query_param(&req, "key"));
    match (key, &state.api_key) {
        (None, _) => {
            return error(
                403,
                error_body(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                ),
            );
        }
        (Some(got), Some(want)) if got != want => {
            let mut body = error_body(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
            body["error"]["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]);
            return error(400, body);
        }
        _ => {}
    }
    let path = req.path_only().to_owned();
    // The API serves both versions: the SDKs of late 2026 call `v1`, older ones `v1beta`.
    let path = match path.strip_prefix("/v1/") {
        Some(rest) => format!("/v1beta/{rest}"),
        None => path,
    };
    if req.method == "GET" && path == "/v1beta/models" {
        return models(state);
    }
    let Some((model, method)) = path.strip_prefix("/v1beta/models/").and_then(|r| r.rsplit_once(':')) else {
        return error(
            404,
            error_body(404, "NOT_FOUND", &format!("The requested URL {path} was not found on this server.")),
        );
    };
    let model = model.replace("%2F", "/").replace("%2f", "/");
    if (req.method.as_str(), method) == ("POST", "batchEmbedContents") {
        if !state.models.contains(&model) {
            return error(
                404,
                error_body(404, "NOT_FOUND", &format!("models/{model} is not found for API version v1beta")),
            );
        }
        return match embed(&req.body, &model) {
            Ok(body) => Outcome::Respond(json_response(200, &headers(), &body)),
            Err(message) => error(400, error_body(400, "INVALID_ARGUMENT", &message)),
        };
    }
    if (req.method.as_str(), method) == ("POST", "countTokens") {
        if !state.models.contains(&model) {
            return error(
                404,
                error_body(404, "NOT_FOUND", &format!("models/{model} is not found for API version v1beta")),
            );
        }
        return match count_tokens(&req.body) {
            Ok(n) => Outcome::Respond(json_response(200, &headers(), &json!({"totalTokens": n}))),
            Err(message) => error(400, error_body(400, "INVALID_ARGUMENT", &message)),
        };
    }
    let stream = match (req.method.as_str(), method) {
        ("POST", "generateContent") => false,
        ("POST", "streamGenerateContent") => true,
        _ => {
            return error(
                404,
                error_body(404, "NOT_FOUND", &format!("The requested URL {path} was not found on this server.")),
            );
        }
    };
    if !state.models.contains(&model) {
        let message = format!(
            "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
        );
        return error(404, error_body(404, "NOT_FOUND", &message));
    }
    if req.body_is_invalid_json() {
        return error(400, error_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token."));
    }
    if let Err(message) = validate(&req.body, &model) {
        return error(400, error_body(400, "INVALID_ARGUMENT", &message));
    }
    let (reply, cut, stream_error) = match state.queue.next() {
        Behaviour::Reset => return Outcome::Reset,
        Behaviour::Error { status, body, retry_after } => {
            let mut h = headers();
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
    let id = format!("fake-gemini-{}", state.ids.next());
    let version = reply.model_version.clone().unwrap_or(model);
    if !stream {
        if let Some(e) = stream_error {
            let code = e.pointer("/error/code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok());
            return error(code.unwrap_or(500), e);
        }
        let body = response(&id, &version, &reply);
        return Outcome::Respond(match cut {
            Some(_) => cut_json_response(&headers(), &body),
            None => json_response(200, &headers(), &body),
        });
    }
    let events = stream_events(&id, &version, &reply);
    if query_param(&req, "alt") != Some("sse") {
        // Without `alt=sse` the API streams one JSON array of the same objects.
        let array = Value::Array(events);
        return Outcome::Respond(json_response(200, &headers(), &array));
    }
    let mut frames: Vec<String> = events.iter().map(|e| format!("data: {e}\r\n\r\n")).collect();
    let pieces = match (cut, stream_error) {
        (Some(after), Some(e)) => {
            frames.truncate(after);
            frames.push(format!("data: {e}\r\n\r\n"));
            event_pieces(frames, Duration::ZERO, reply.interval, None)
        }
        (cut, _) => event_pieces(frames, Duration::ZERO, reply.interval, cut),
    };
    Outcome::Respond(sse_response(&headers(), pieces))
}

/// `batchEmbedContents`: each request must name the model of the path and hold text parts; the
/// answer is one embedding per request (`outputDimensionality` values, default 8), no usage.
fn embed(body: &Value, model: &str) -> Result<Value, String> {
    let requests = body.get("requests").and_then(Value::as_array).ok_or("* requests: required")?;
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if r.get("model").and_then(Value::as_str) != Some(&format!("models/{model}")) {
            return Err(format!(
                "* BatchEmbedContentsRequest.requests[{i}].model: the model of each request must match the batch model models/{model}"
            ));
        }
        let text: String = r
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .ok_or(format!("* requests[{i}].content.parts: required"))?
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        let dims = r.get("outputDimensionality").and_then(Value::as_u64).unwrap_or(8) as usize;
        out.push(json!({"values": super::openai::embedding_vector(&text, dims)}));
    }
    Ok(json!({"embeddings": out}))
}

fn envelope(id: &str, version: &str, parts: Vec<Value>, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": version, "responseId": id})
}

/// The non-streamed `GenerateContentResponse`.
pub fn response(id: &str, version: &str, reply: &Reply) -> Value {
    let parts = reply.parts.iter().map(|p| p.to_json(None, true)).collect();
    envelope(id, version, parts, Some(&reply.finish_reason), reply.usage.to_json())
}

/// The objects of a streamed answer, one per event.
pub fn stream_events(id: &str, version: &str, reply: &Reply) -> Vec<Value> {
    let mut parts: Vec<Value> = Vec::new();
    for p in &reply.parts {
        match p {
            Part::Text { text, chunks } | Part::Thought { text, chunks, .. } => {
                let pieces = split_chunks(text, *chunks);
                let n = pieces.len();
                for (i, piece) in pieces.iter().enumerate() {
                    parts.push(p.to_json(Some(piece), i + 1 == n));
                }
            }
            Part::Call { .. } => parts.push(p.to_json(None, true)),
        }
    }
    if parts.is_empty() {
        return vec![envelope(id, version, Vec::new(), Some(&reply.finish_reason), reply.usage.to_json())];
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let last = i + 1 == n;
            let usage = if last { reply.usage.to_json() } else { reply.usage.partial(i + 1, n) };
            envelope(id, version, vec![part], last.then_some(reply.finish_reason.as_str()), usage)
        })
        .collect()
}

/// `countTokens`: `contents`, or a whole `generateContentRequest` (which must name its model).
/// The fake's count is one token per whitespace-separated word of the text parts, plus one per
/// content: not Gemini's tokenizer, but a figure a test can predict.
fn count_tokens(body: &Value) -> Result<u64, String> {
    let contents = match (body.get("contents"), body.get("generateContentRequest")) {
        (Some(c), None) => c,
        (None, Some(g)) => {
            if g.get("model").and_then(Value::as_str).is_none_or(|m| !m.starts_with("models/")) {
                return Err("generateContentRequest.model is required and must start with models/".into());
            }
            g.get("contents").ok_or("generateContentRequest.contents is required")?
        }
        (Some(_), Some(_)) => return Err("contents and generateContentRequest cannot both be set".into()),
        (None, None) => return Err("contents is required".into()),
    };
    let contents = contents.as_array().ok_or("contents must be a list")?;
    let words: usize = contents
        .iter()
        .flat_map(|c| c.get("parts").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .map(|t| t.split_whitespace().count())
        .sum();
    Ok((words + contents.len()) as u64)
}

fn models(state: &State) -> Outcome {
    let models: Vec<Value> = state
        .models
        .iter()
        .map(|m| {
            json!({
                "name": format!("models/{m}"),
                "version": "001",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"],
            })
        })
        .collect();
    Outcome::Respond(json_response(200, &headers(), &json!({"models": models})))
}
