//! A fake AWS Bedrock Runtime: `POST /model/{modelId}/converse` and
//! `POST /model/{modelId}/converse-stream`, written from the Bedrock Runtime API reference.
//!
//! Wire details it follows:
//! - Every request must carry a valid SigV4 signature (service `bedrock`), which the fake checks
//!   with an HMAC-SHA256 implementation of its own, written from AWS's "Create a signed AWS
//!   API request" steps: canonical request (the path URI-encoded once more, sorted signed
//!   headers, the body's SHA-256), string to sign, derived key. A bad signature: 403
//!   `InvalidSignatureException`; an unknown key id: 403 `UnrecognizedClientException`.
//! - Errors are `{"message": …}` with the type in `x-amzn-ErrorType`; every answer has an
//!   `x-amzn-RequestId`.
//! - The request checks of the real API that a translating gateway can get wrong: no unknown
//!   top-level keys, alternating roles starting with `user`, single-key content blocks of
//!   known kinds, tool results that answer an earlier `toolUse`, `toolConfig` present when the
//!   conversation holds tool blocks, a known model id.
//! - `Converse` answers `{output: {message}, stopReason, usage, metrics}`; `inputTokens`
//!   excludes the cache classes (`cacheReadInputTokens`, `cacheWriteInputTokens`).
//! - `ConverseStream` answers `application/vnd.amazon.eventstream`: binary event-stream
//!   messages framed with AWS's own encoder (`aws-smithy-eventstream`), headers
//!   `:event-type`, `:content-type` and `:message-type`, each JSON payload padded with a `p`
//!   field as the service does: messageStart, per block contentBlockStart (tool use only),
//!   contentBlockDelta…, contentBlockStop, then messageStop and metadata (usage). A failure
//!   mid-stream is an `exception` message.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use hyper::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    FLUSH_PAUSE, Ids, Outcome, Piece, Queue, RecordedRequest, Server, cut_json_response, json_response, piece_body,
    split_chunks,
};

/// Usage as Bedrock reports it: `input_tokens` without the cache classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_write_input_tokens: u64,
}

impl Usage {
    pub fn to_json(self) -> Value {
        let mut v = json!({
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_write_input_tokens,
        });
        if self.cache_read_input_tokens > 0 {
            v["cacheReadInputTokens"] = json!(self.cache_read_input_tokens);
        }
        if self.cache_write_input_tokens > 0 {
            v["cacheWriteInputTokens"] = json!(self.cache_write_input_tokens);
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text {
        text: String,
        chunks: usize,
    },
    Reasoning {
        text: String,
        signature: String,
        chunks: usize,
    },
    /// A tool call whose input JSON text streams in `chunks` pieces.
    ToolUse {
        id: String,
        name: String,
        input: Value,
        chunks: usize,
    },
}

impl Part {
    pub fn text(text: &str) -> Part {
        Part::Text { text: text.to_owned(), chunks: 3 }
    }

    pub fn reasoning(text: &str, signature: &str) -> Part {
        Part::Reasoning { text: text.to_owned(), signature: signature.to_owned(), chunks: 2 }
    }

    pub fn tool_use(id: &str, name: &str, input: Value) -> Part {
        Part::ToolUse { id: id.to_owned(), name: name.to_owned(), input, chunks: 2 }
    }

    pub fn chunks(self, n: usize) -> Part {
        match self {
            Part::Text { text, .. } => Part::Text { text, chunks: n },
            Part::Reasoning { text, signature, .. } => Part::Reasoning { text, signature, chunks: n },
            Part::ToolUse { id, name, input, .. } => Part::ToolUse { id, name, input, chunks: n },
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Part::Text { text, .. } => json!({"text": text}),
            Part::Reasoning { text, signature, .. } => {
                json!({"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}})
            }
            Part::ToolUse { id, name, input, .. } => {
                json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub parts: Vec<Part>,
    /// `None`: `tool_use` when a tool is used, else `end_turn`.
    pub stop_reason: Option<String>,
    pub usage: Usage,
    pub interval: Duration,
}

impl Reply {
    pub fn text(text: &str) -> Reply {
        Reply::parts(vec![Part::text(text)])
    }

    pub fn parts(parts: Vec<Part>) -> Reply {
        Reply {
            parts,
            stop_reason: None,
            usage: Usage { input_tokens: 21, output_tokens: 9, ..Usage::default() },
            interval: Duration::ZERO,
        }
    }

    pub fn usage(mut self, usage: Usage) -> Reply {
        self.usage = usage;
        self
    }

    pub fn stop(mut self, reason: &str) -> Reply {
        self.stop_reason = Some(reason.to_owned());
        self
    }

    fn effective_stop(&self) -> String {
        self.stop_reason.clone().unwrap_or_else(|| {
            if self.parts.iter().any(|p| matches!(p, Part::ToolUse { .. })) { "tool_use" } else { "end_turn" }
                .to_owned()
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    Reply(Reply),
    /// An HTTP error of type `ty` (`ThrottlingException`…).
    Error {
        status: u16,
        ty: String,
        message: String,
    },
    Reset,
    /// Send the first `after` stream messages (a non-streamed answer: half its body), then drop
    /// the connection.
    Cut {
        reply: Reply,
        after: usize,
    },
    /// Send the first `after` stream messages, then an exception message.
    StreamException {
        reply: Reply,
        after: usize,
        ty: String,
        message: String,
    },
}

impl Behaviour {
    pub fn error(status: u16, ty: &str, message: &str) -> Behaviour {
        Behaviour::Error { status, ty: ty.to_owned(), message: message.to_owned() }
    }

    /// The error Bedrock answers for common statuses.
    pub fn status(code: u16) -> Behaviour {
        let (ty, message) = match code {
            400 => ("ValidationException", "Malformed input request, please reformat your input and try again."),
            403 => ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
            404 => (
                "ResourceNotFoundException",
                "Could not resolve the foundation model from the provided model identifier.",
            ),
            429 => ("ThrottlingException", "Too many requests, please wait before trying again."),
            503 => ("ServiceUnavailableException", "Bedrock is unable to process your request."),
            _ => ("InternalServerException", "The server encountered an internal error while processing the request."),
        };
        Behaviour::error(code, ty, message)
    }
}

/// The AWS keys the fake accepts, and its region.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub keys: Keys,
    pub queue: Vec<Behaviour>,
    pub fallback: Behaviour,
    pub models: Vec<String>,
}

impl Script {
    pub fn new(keys: Keys) -> Script {
        Script {
            keys,
            queue: Vec::new(),
            fallback: Behaviour::Reply(Reply::text("Hello from the fake Bedrock.")),
            models: vec![
                "anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned(),
                "us.anthropic.claude-haiku-4-5-20251001-v1:0".to_owned(),
                "amazon.nova-pro-v1:0".to_owned(),
            ],
        }
    }

    pub fn reply(mut self, reply: Reply) -> Script {
        self.fallback = Behaviour::Reply(reply);
        self
    }

    pub fn queue(mut self, behaviours: impl IntoIterator<Item = Behaviour>) -> Script {
        self.queue = behaviours.into_iter().collect();
        self
    }
}

struct State {
    keys: Keys,
    queue: Queue<Behaviour>,
    models: Vec<String>,
    ids: Ids,
}

/// A running fake Bedrock Runtime. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct FakeBedrock {
    server: Arc<Server>,
}

impl FakeBedrock {
    pub async fn start(script: Script) -> FakeBedrock {
        let state = Arc::new(State {
            keys: script.keys,
            queue: Queue::new(script.queue, script.fallback),
            models: script.models,
            ids: Ids::default(),
        });
        let server = Server::start(Arc::new(move |req| {
            let state = state.clone();
            Box::pin(async move { handle(&state, req) })
        }))
        .await;
        FakeBedrock { server: Arc::new(server) }
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }
}

fn request_id(state: &State) -> String {
    format!("b0c1d2e3-0000-4000-8000-{:012}", state.ids.next())
}

fn error(state: &State, status: u16, ty: &str, message: &str) -> Outcome {
    let headers = [
        ("x-amzn-requestid", request_id(state)),
        ("x-amzn-errortype", format!("{ty}:http://internal.amazon.com/coral/com.amazon.bedrock/")),
    ];
    Outcome::Respond(json_response(status, &headers, &json!({"message": message})))
}

fn handle(state: &State, req: RecordedRequest) -> Outcome {
    if let Err((ty, message)) = verify_sigv4(&req, &state.keys) {
        return error(state, 403, ty, &message);
    }
    let path = req.path_only().to_owned();
    let route = path.strip_prefix("/model/").and_then(|rest| {
        rest.strip_suffix("/converse-stream")
            .map(|m| (m, true))
            .or_else(|| rest.strip_suffix("/converse").map(|m| (m, false)))
    });
    let (Some((encoded_model, stream)), "POST") = (route, req.method.as_str()) else {
        return error(state, 404, "UnknownOperationException", "");
    };
    let model = percent_decode(encoded_model);
    if !state.models.contains(&model) {
        return error(state, 400, "ValidationException", "The provided model identifier is invalid.");
    }
    if req.body_is_invalid_json() || !req.body.is_object() {
        return error(state, 400, "SerializationException", "Unexpected character in the request body");
    }
    if let Err(message) = validate(&req.body) {
        return error(state, 400, "ValidationException", &message);
    }
    let (reply, cut, exception) = match state.queue.next() {
        Behaviour::Reset => return Outcome::Reset,
        Behaviour::Error { status, ty, message } => return error(state, status, &ty, &message),
        Behaviour::Reply(r) => (r, None, None),
        Behaviour::Cut { reply, after } => (reply, Some(after), None),
        Behaviour::StreamException { reply, after, ty, message } => (reply, Some(after), Some((ty, message))),
    };
    let headers = [("x-amzn-requestid", request_id(state))];
    if !stream {
        if let Some((ty, message)) = exception {
            return error(state, 500, &ty, &message);
        }
        let body = json!({
            "output": {"message": {"role": "assistant", "content": reply.parts.iter().map(Part::to_json).collect::<Vec<_>>()}},
            "stopReason": reply.effective_stop(),
            "usage": reply.usage.to_json(),
            "metrics": {"latencyMs": 321},
        });
        return Outcome::Respond(match cut {
            Some(_) => cut_json_response(&headers, &body),
            None => json_response(200, &headers, &body),
        });
    }
    let mut frames: Vec<Bytes> = stream_events(&reply).into_iter().map(|(t, p)| event_frame(t, p)).collect();
    let mut pieces = Vec::new();
    let keep = cut.unwrap_or(frames.len()).min(frames.len());
    frames.truncate(keep);
    for (i, f) in frames.into_iter().enumerate() {
        if i > 0 && !reply.interval.is_zero() {
            pieces.push(Piece::Sleep(reply.interval));
        }
        pieces.push(Piece::Data(f));
    }
    match (cut, exception) {
        (Some(_), Some((ty, message))) => pieces.push(Piece::Data(exception_frame(&ty, &message))),
        (Some(_), None) => {
            pieces.push(Piece::Sleep(FLUSH_PAUSE));
            pieces.push(Piece::Cut);
        }
        (None, _) => {}
    }
    let resp = Response::builder()
        .status(200)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", headers[0].1.clone())
        .body(piece_body(pieces))
        .expect("response");
    Outcome::Respond(resp)
}

/// (event type, payload) of a streamed answer.
pub fn stream_events(reply: &Reply) -> Vec<(&'static str, Value)> {
    let mut out = vec![("messageStart", json!({"role": "assistant"}))];
    for (index, part) in reply.parts.iter().enumerate() {
        match part {
            Part::Text { text, chunks } => {
                for piece in split_chunks(text, *chunks) {
                    out.push(("contentBlockDelta", json!({"contentBlockIndex": index, "delta": {"text": piece}})));
                }
            }
            Part::Reasoning { text, signature, chunks } => {
                for piece in split_chunks(text, *chunks) {
                    out.push((
                        "contentBlockDelta",
                        json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}}),
                    ));
                }
                out.push((
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": signature}}}),
                ));
            }
            Part::ToolUse { id, name, input, chunks } => {
                out.push((
                    "contentBlockStart",
                    json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                ));
                for piece in split_chunks(&input.to_string(), *chunks) {
                    out.push((
                        "contentBlockDelta",
                        json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}),
                    ));
                }
            }
        }
        out.push(("contentBlockStop", json!({"contentBlockIndex": index})));
    }
    out.push(("messageStop", json!({"stopReason": reply.effective_stop()})));
    out.push(("metadata", json!({"usage": reply.usage.to_json(), "metrics": {"latencyMs": 654}})));
    out
}

fn string_header(name: &'static str, value: String) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

fn encode(message: &Message) -> Bytes {
    let mut buf = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(message, &mut buf).expect("encode an event-stream message");
    Bytes::from(buf)
}

fn event_frame(event_type: &str, mut payload: Value) -> Bytes {
    // The service pads payloads with a `p` field of varying length.
    payload["p"] = json!("abcdefghijklmnopqrstuvwxyzABCDEFGH"[..(event_type.len() % 20) + 2]);
    let message = Message::new(Bytes::from(payload.to_string()))
        .add_header(string_header(":event-type", event_type.to_owned()))
        .add_header(string_header(":content-type", "application/json".to_owned()))
        .add_header(string_header(":message-type", "event".to_owned()));
    encode(&message)
}

fn exception_frame(ty: &str, message: &str) -> Bytes {
    let m = Message::new(Bytes::from(json!({"message": message}).to_string()))
        .add_header(string_header(":exception-type", ty.to_owned()))
        .add_header(string_header(":content-type", "application/json".to_owned()))
        .add_header(string_header(":message-type", "exception".to_owned()));
    encode(&m)
}

const TOP_LEVEL: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
    "outputConfig",
    "serviceTier",
];
const BLOCKS: &[&str] =
    &["text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint", "reasoningContent"];

/// The request checks of the real API that a translating gateway can get wrong.
fn validate(body: &Value) -> Result<(), String> {
    let obj = body.as_object().ok_or("The request body must be an object")?;
    for k in obj.keys() {
        if !TOP_LEVEL.contains(&k.as_str()) {
            return Err(format!("extraneous key [{k}] is not permitted"));
        }
    }
    let messages = obj.get("messages").and_then(Value::as_array).ok_or("messages: required")?;
    if messages.is_empty() {
        return Err("The messages field must not be empty.".into());
    }
    let mut uses = HashSet::new();
    let mut tool_blocks = false;
    let mut last_role = "";
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "user" | "assistant") {
            return Err(format!("messages.{i}.role: must be user or assistant, got {role:?}"));
        }
        if i == 0 && role != "user" {
            return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
        }
        if role == last_role {
            return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into());
        }
        last_role = role;
        let content = m.get("content").and_then(Value::as_array).ok_or(format!("messages.{i}.content: required"))?;
        if content.is_empty() {
            return Err(format!("messages.{i}.content: must not be empty"));
        }
        for (j, block) in content.iter().enumerate() {
            let b = block.as_object().ok_or(format!("messages.{i}.content.{j}: must be an object"))?;
            let keys: Vec<&String> = b.keys().collect();
            if keys.len() != 1 || !BLOCKS.contains(&keys[0].as_str()) {
                return Err(format!(
                    "messages.{i}.content.{j}: a content block must have exactly one member of {BLOCKS:?}, got {keys:?}"
                ));
            }
            if let Some(u) = b.get("toolUse") {
                tool_blocks = true;
                if role != "assistant" || !u.get("input").is_some_and(Value::is_object) {
                    return Err(format!("messages.{i}.content.{j}.toolUse: invalid"));
                }
                uses.insert(u.get("toolUseId").and_then(Value::as_str).unwrap_or_default().to_owned());
            }
            if let Some(r) = b.get("toolResult") {
                tool_blocks = true;
                let id = r.get("toolUseId").and_then(Value::as_str).unwrap_or_default();
                if role != "user" || !uses.contains(id) {
                    return Err(format!("messages.{i}.content.{j}.toolResult: toolUseId {id:?} answers no toolUse"));
                }
                if !r.get("content").is_some_and(Value::is_array) {
                    return Err(format!("messages.{i}.content.{j}.toolResult.content: required"));
                }
            }
            if let Some(img) = b.get("image")
                && !img.pointer("/source/bytes").is_some_and(Value::is_string)
            {
                return Err(format!("messages.{i}.content.{j}.image.source: bytes required"));
            }
        }
    }
    if tool_blocks && obj.get("toolConfig").is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    if let Some(tools) = obj.get("toolConfig").map(|t| t.get("tools").and_then(Value::as_array)) {
        let tools = tools.ok_or("toolConfig.tools: required")?;
        for t in tools {
            if !t.pointer("/toolSpec/inputSchema/json").is_some_and(Value::is_object) {
                return Err("toolConfig.tools: each tool needs toolSpec.inputSchema.json".into());
            }
        }
    }
    if let Some(ic) = obj.get("inferenceConfig").and_then(Value::as_object) {
        for k in ic.keys() {
            if !["maxTokens", "temperature", "topP", "stopSequences"].contains(&k.as_str()) {
                return Err(format!("inferenceConfig: extraneous key [{k}] is not permitted"));
            }
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// URI-encodes every byte but the unreserved ones and `/` (AWS's `UriEncode` of a path).
fn uri_encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the request's SigV4 signature; the error type and message Bedrock would send.
fn verify_sigv4(req: &RecordedRequest, keys: &Keys) -> Result<(), (&'static str, String)> {
    let missing = || ("MissingAuthenticationTokenException", "Missing Authentication Token".to_owned());
    let auth = req.header("authorization").ok_or_else(missing)?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(missing)?;
    let field =
        |name: &str| rest.split(", ").find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned);
    let (Some(credential), Some(signed), Some(signature)) =
        (field("Credential"), field("SignedHeaders"), field("Signature"))
    else {
        return Err(("IncompleteSignatureException", format!("Authorization header is malformed: {auth}")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(("IncompleteSignatureException", format!("Credential is malformed: {credential}")));
    };
    if key_id != keys.access_key_id {
        return Err(("UnrecognizedClientException", "The security token included in the request is invalid.".into()));
    }
    if region != keys.region || service != "bedrock" {
        return Err((
            "InvalidSignatureException",
            format!("Credential should be scoped to a valid region and service: got {region}/{service}"),
        ));
    }
    if let Some(token) = &keys.session_token
        && req.header("x-amz-security-token") != Some(token.as_str())
    {
        return Err(("UnrecognizedClientException", "The security token included in the request is invalid.".into()));
    }
    let amz_date = req.header("x-amz-date").unwrap_or_default();
    let signed_names: Vec<&str> = signed.split(';').collect();
    if !amz_date.starts_with(date) || !signed_names.contains(&"host") || !signed_names.contains(&"x-amz-date") {
        return Err(("IncompleteSignatureException", "host and x-amz-date must be signed".into()));
    }
    let mut canonical_headers = String::new();
    for name in &signed_names {
        let value =
            req.header(name).ok_or(("IncompleteSignatureException", format!("signed header {name} is missing")))?;
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        uri_encode_path(req.path_only()),
        req.path.split_once('?').map(|(_, q)| q).unwrap_or_default(),
        hex(&Sha256::digest(&req.raw_body)),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/bedrock/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k = hmac(format!("AWS4{}", keys.secret_access_key).as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, "bedrock");
    let k = hmac(&k, "aws4_request");
    let expected = hex(&hmac(&k, &string_to_sign));
    if expected != signature {
        return Err((
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ));
    }
    Ok(())
}
