//! The OpenAI Responses API (`POST /v1/responses`) as a front door: a request's `input` items
//! to the canonical model, and a canonical response back as a `response` object.
//!
//! `previous_response_id` is resolved before this parser runs (`ai::stored`: the stored
//! conversation becomes the `input`); `conversation` and `item_reference` items answer 400;
//! reasoning items of the input are dropped (their encrypted content belongs to OpenAI).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ai::canonical::*;
use crate::ai::errors::AiError;

#[derive(Deserialize)]
struct Req {
    model: Option<String>,
    input: Option<Input>,
    instructions: Option<String>,
    tools: Option<Vec<ToolDef>>,
    tool_choice: Option<Value>,
    max_output_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    text: Option<TextConfig>,
    reasoning: Option<ReasoningConfig>,
    parallel_tool_calls: Option<bool>,
    user: Option<String>,
    safety_identifier: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    previous_response_id: Option<String>,
    conversation: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<Value>),
}

#[derive(Deserialize)]
struct ToolDef {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    parameters: Option<Value>,
}

#[derive(Deserialize)]
struct TextConfig {
    format: Option<Value>,
}

#[derive(Deserialize)]
struct ReasoningConfig {
    effort: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> AiError {
    AiError::invalid_param(param, message)
}

fn str_field<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v str, AiError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{path}.{key}"), format!("invalid request: {path}.{key} must be a string")))
}

fn image_part(p: &Value, path: &str) -> Result<Part, AiError> {
    let Some(url) = p.get("image_url").and_then(Value::as_str) else {
        return Err(invalid(
            &format!("{path}.image_url"),
            "input_image needs an image_url (file_id is not supported: Sluice stores no files)",
        ));
    };
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return Ok(Part::Image(Image::Base64 { media_type: media_type.to_string(), data: data.to_string() }));
    }
    Ok(Part::Image(Image::Url(url.to_string())))
}

/// The parts of a message's `content`: a string, or a list of content parts.
fn content_parts(content: Option<&Value>, path: &str) -> Result<Vec<Part>, AiError> {
    match content {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                let path = format!("{path}[{i}]");
                match p.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text" | "summary_text" | "reasoning_text") => {
                        out.push(Part::Text(str_field(p, "text", &path)?.to_string()))
                    }
                    Some("refusal") => out.push(Part::Text(str_field(p, "refusal", &path)?.to_string())),
                    Some("input_image") => out.push(image_part(p, &path)?),
                    Some(other) => {
                        return Err(invalid(
                            &format!("{path}.type"),
                            format!("content type {other:?} is not supported"),
                        ));
                    }
                    None => return Err(invalid(&format!("{path}.type"), format!("{path} has no type"))),
                }
            }
            Ok(out)
        }
        Some(_) => Err(invalid(path, format!("invalid request: {path} must be a string or a list of parts"))),
    }
}

/// Appends a part to the last message when it has `role`, or opens a new message.
fn push_part(messages: &mut Vec<Message>, role: Role, part: Part) {
    match messages.last_mut() {
        Some(m) if m.role == role => m.parts.push(part),
        _ => messages.push(Message { role, parts: vec![part] }),
    }
}

fn parse_input_item(out: &mut ChatRequest, item: &Value, i: usize) -> Result<(), AiError> {
    let path = format!("input[{i}]");
    if !item.is_object() {
        return Err(invalid(&path, format!("invalid request: {path} must be an object")));
    }
    let kind = match item.get("type") {
        None => "message",
        Some(t) => t.as_str().ok_or_else(|| invalid(&format!("{path}.type"), "type must be a string"))?,
    };
    match kind {
        "message" => {
            let role = str_field(item, "role", &path)?;
            let parts = content_parts(item.get("content"), &format!("{path}.content"))?;
            match role {
                "system" | "developer" => out.push_system(
                    parts
                        .into_iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                ),
                "user" => out.messages.push(Message { role: Role::User, parts }),
                "assistant" => {
                    // Assistant text and the function calls that follow it form one turn.
                    for p in parts {
                        push_part(&mut out.messages, Role::Assistant, p);
                    }
                }
                other => return Err(invalid(&format!("{path}.role"), format!("unknown role {other:?}"))),
            }
        }
        "function_call" => {
            let part = Part::ToolCall {
                id: str_field(item, "call_id", &path)?.to_string(),
                name: str_field(item, "name", &path)?.to_string(),
                arguments: str_field(item, "arguments", &path)?.to_string(),
            };
            push_part(&mut out.messages, Role::Assistant, part);
        }
        "function_call_output" => {
            let id = str_field(item, "call_id", &path)?.to_string();
            let content = content_parts(item.get("output"), &format!("{path}.output"))?;
            let part = Part::ToolResult { id, content, is_error: false };
            // Consecutive results travel in one user turn, as the chat door does.
            match out.messages.last_mut() {
                Some(Message { role: Role::User, parts })
                    if !parts.is_empty() && parts.iter().all(|p| matches!(p, Part::ToolResult { .. })) =>
                {
                    parts.push(part)
                }
                _ => out.messages.push(Message { role: Role::User, parts: vec![part] }),
            }
        }
        "reasoning" => {
            // The thinking of an earlier turn, sent back: its text (content, else summary) and
            // the provider's signature (`encrypted_content`), for providers that want both.
            let texts = |key: &str| -> String {
                let parts = item.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect()
            };
            let text = Some(texts("content")).filter(|t| !t.is_empty()).unwrap_or_else(|| texts("summary"));
            let signature =
                item.get("encrypted_content").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            if !text.is_empty() || signature.is_some() {
                push_part(&mut out.messages, Role::Assistant, Part::Thinking { text, signature });
            }
        }
        "item_reference" => {
            return Err(invalid(
                &format!("{path}.type"),
                "item_reference is not supported: Sluice stores no responses; send the items themselves",
            ));
        }
        // The record of a built-in tool's call (web search, file search…), which no other
        // provider could have made and none can read.
        other => {
            tracing::debug!(item = %other, %path, "a Responses input item other providers cannot carry is dropped")
        }
    }
    Ok(())
}

fn parse_format(v: &Value) -> Result<ResponseFormat, AiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => Ok(ResponseFormat::JsonSchema {
            name: v.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
            schema: v.get("schema").cloned().unwrap_or_else(|| json!({})),
            strict: v.get("strict").and_then(Value::as_bool),
        }),
        _ => Err(invalid("text.format", "unknown text.format type")),
    }
}

fn parse_tool_choice(v: Value) -> Result<ToolChoice, AiError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid("tool_choice", format!("unknown tool_choice {other:?}"))),
        },
        v => match (v.get("type").and_then(Value::as_str), v.get("name").and_then(Value::as_str)) {
            (Some("function"), Some(name)) => Ok(ToolChoice::Named(name.to_string())),
            _ => Err(invalid("tool_choice", "tool_choice must be auto, none, required or name a function")),
        },
    }
}

/// Parses a Responses request body; errors name the field at fault.
pub fn parse_request(body: &Value) -> Result<ChatRequest, AiError> {
    let req: Req = serde_path_to_error::deserialize(body)
        .map_err(|e| invalid(&e.path().to_string(), format!("invalid request: {}: {}", e.path(), e.inner())))?;
    if req.previous_response_id.is_some() {
        return Err(invalid(
            "previous_response_id",
            "previous_response_id is not supported: Sluice stores no responses; send the whole conversation in input",
        ));
    }
    if req.conversation.is_some() {
        return Err(invalid("conversation", "conversation is not supported: Sluice stores no conversations"));
    }
    let mut out = ChatRequest {
        model: req.model.unwrap_or_default(),
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stream: req.stream.unwrap_or(false),
        // `response.completed` always carries the usage.
        stream_usage: true,
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user.or(req.safety_identifier),
        ..ChatRequest::default()
    };
    if let Some(i) = req.instructions.filter(|i| !i.is_empty()) {
        out.system.push(i);
    }
    match req.input {
        None => return Err(invalid("input", "input is required")),
        Some(Input::Text(t)) => out.messages.push(Message { role: Role::User, parts: vec![Part::Text(t)] }),
        Some(Input::Items(items)) => {
            for (i, item) in items.iter().enumerate() {
                parse_input_item(&mut out, item, i)?;
            }
        }
    }
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind != "function" {
            // OpenAI's built-in tools (web search, file search…) and tool namespaces (Codex CLI's
            // sub-agent tools) have no equivalent elsewhere: the model goes without them.
            tracing::debug!(tool = %t.kind, index = i, "a Responses tool type other providers cannot carry is dropped");
            continue;
        }
        let name = t.name.ok_or_else(|| invalid(&format!("tools[{i}].name"), "a function tool needs a name"))?;
        out.tools.push(Tool {
            name,
            description: t.description,
            parameters: t.parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    out.tool_choice = req.tool_choice.map(parse_tool_choice).transpose()?;
    out.response_format = req.text.and_then(|t| t.format).map(|f| parse_format(&f)).transpose()?;
    if let Some(effort) = req.reasoning.and_then(|r| r.effort) {
        out.reasoning = Some(Reasoning { effort: Some(Effort::parse(&effort)), budget_tokens: None });
    }
    Ok(out)
}

/// The response id for a canonical id (`resp_…`).
pub fn response_id(id: &str) -> String {
    if id.starts_with("resp_") {
        id.to_string()
    } else if id.is_empty() {
        "resp_sluice".to_string()
    } else {
        format!("resp_{id}")
    }
}

/// The id of the output item at `index` of response `resp_id` (`msg_…`, `rs_…`).
pub fn item_id(prefix: &str, resp_id: &str, index: usize) -> String {
    format!("{prefix}_{}_{index}", resp_id.strip_prefix("resp_").unwrap_or(resp_id))
}

pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "id": id, "type": "message", "status": status, "role": "assistant",
        "content": [output_text(text)],
    })
}

pub fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub fn function_call_item(call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "id": format!("fc_{call_id}"), "type": "function_call", "status": status,
        "call_id": call_id, "name": name, "arguments": arguments,
    })
}

/// A reasoning item; the provider's signature of the thinking (Anthropic's) travels as its
/// `encrypted_content`, so that a client sending the item back gives it back.
pub fn reasoning_item(id: &str, text: &str, signature: Option<&str>) -> Value {
    let mut item =
        json!({"id": id, "type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": text}]});
    if let Some(s) = signature.filter(|s| !s.is_empty()) {
        item["encrypted_content"] = json!(s);
    }
    item
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

/// `status` and `incomplete_details` for a stop reason.
pub fn status_of(stop: Option<&StopReason>) -> (&'static str, Value) {
    match stop {
        Some(StopReason::MaxTokens) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        Some(StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse | StopReason::Other(_)) | None => {
            ("completed", Value::Null)
        }
    }
}

/// The status of the message items of a response of `status`.
pub fn message_status(status: &str) -> &'static str {
    if status == "incomplete" { "incomplete" } else { "completed" }
}

/// The request settings a `response` object repeats back, from the client's request body.
pub fn echo(request: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    let get = |k: &str| request.get(k).cloned().unwrap_or(Value::Null);
    m.insert("instructions".into(), get("instructions"));
    m.insert("max_output_tokens".into(), get("max_output_tokens"));
    m.insert("temperature".into(), get("temperature"));
    m.insert("top_p".into(), get("top_p"));
    m.insert("parallel_tool_calls".into(), request.get("parallel_tool_calls").cloned().unwrap_or(json!(true)));
    m.insert("tool_choice".into(), request.get("tool_choice").cloned().unwrap_or(json!("auto")));
    m.insert("tools".into(), request.get("tools").cloned().unwrap_or(json!([])));
    m.insert("text".into(), request.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})));
    m.insert(
        "reasoning".into(),
        json!({"effort": request.pointer("/reasoning/effort").cloned().unwrap_or(Value::Null), "summary": null}),
    );
    m.insert("metadata".into(), request.get("metadata").cloned().unwrap_or(json!({})));
    m.insert("user".into(), get("user"));
    // Stored unless the client said not (`store: false`): then continued by id.
    m.insert("store".into(), json!(request.get("store").and_then(Value::as_bool).unwrap_or(true)));
    m.insert("previous_response_id".into(), get("previous_response_id"));
    m
}

/// A `response` object.
pub struct Envelope<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created: u64,
    pub status: &'a str,
    pub output: Vec<Value>,
    pub usage: Option<&'a Usage>,
    pub incomplete_details: Value,
    pub error: Value,
    pub echo: &'a Map<String, Value>,
}

impl Envelope<'_> {
    pub fn to_json(self) -> Value {
        let mut v = Map::new();
        v.insert("id".into(), json!(self.id));
        v.insert("object".into(), json!("response"));
        v.insert("created_at".into(), json!(self.created));
        v.insert("status".into(), json!(self.status));
        v.insert("error".into(), self.error);
        v.insert("incomplete_details".into(), self.incomplete_details);
        v.insert("model".into(), json!(self.model));
        v.insert("output".into(), Value::Array(self.output));
        v.insert("previous_response_id".into(), Value::Null);
        v.insert("store".into(), json!(false));
        v.insert("truncation".into(), json!("disabled"));
        for (k, val) in self.echo {
            v.insert(k.clone(), val.clone());
        }
        v.insert("usage".into(), self.usage.map(usage_json).unwrap_or(Value::Null));
        Value::Object(v)
    }
}

/// The output items of a response: consecutive text becomes one message (of `message_status`:
/// `incomplete` when the response is), each tool call a function call, thinking a reasoning item.
pub fn output_items(resp_id: &str, parts: &[Part], message_status: &str) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut text: Option<String> = None;
    let flush = |items: &mut Vec<Value>, text: &mut Option<String>| {
        if let Some(t) = text.take() {
            let id = item_id("msg", resp_id, items.len());
            items.push(message_item(&id, &t, message_status));
        }
    };
    for p in parts {
        match p {
            Part::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            Part::ToolCall { id, name, arguments } => {
                flush(&mut items, &mut text);
                items.push(function_call_item(id, name, arguments, "completed"));
            }
            Part::Thinking { text: t, signature } => {
                flush(&mut items, &mut text);
                if !t.is_empty() || signature.is_some() {
                    let id = item_id("rs", resp_id, items.len());
                    items.push(reasoning_item(&id, t, signature.as_deref()));
                }
            }
            Part::Image(_) | Part::ToolResult { .. } => {}
        }
    }
    flush(&mut items, &mut text);
    items
}

/// Renders a canonical response as a Responses `response` object; `request` is the client's
/// body, whose settings the object repeats.
pub fn render_response(r: &ChatResponse, created: u64, request: &Value) -> Value {
    let id = response_id(&r.id);
    let (status, incomplete_details) = status_of(r.stop.as_ref());
    let echo = echo(request);
    Envelope {
        id: &id,
        model: &r.model,
        created,
        status,
        output: output_items(&id, &r.parts, message_status(status)),
        usage: r.usage.as_ref(),
        incomplete_details,
        error: Value::Null,
        echo: &echo,
    }
    .to_json()
}
