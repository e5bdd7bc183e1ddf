//! OpenAI Chat Completions: requests, responses and stream chunks, to and from the canonical
//! model.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ai::canonical::*;
use crate::ai::errors::AiError;

#[derive(Deserialize)]
struct Req {
    model: Option<String>,
    messages: Vec<Msg>,
    #[serde(default)]
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop: Option<Stop>,
    tools: Option<Vec<ToolDef>>,
    tool_choice: Option<Value>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    parallel_tool_calls: Option<bool>,
    user: Option<String>,
    n: Option<u32>,
}

/// `stream_options`, read only from an object: serde would read an array into a struct field
/// by field, and OpenAI refuses one.
struct StreamOptions {
    include_usage: Option<bool>,
}

impl<'de> Deserialize<'de> for StreamOptions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            include_usage: Option<bool>,
        }
        struct Only;
        impl<'de> serde::de::Visitor<'de> for Only {
            type Value = StreamOptions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<StreamOptions, A::Error> {
                let f = Fields::deserialize(serde::de::value::MapAccessDeserializer::new(a))?;
                Ok(StreamOptions { include_usage: f.include_usage })
            }
        }
        d.deserialize_map(Only)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct ToolDef {
    #[serde(rename = "type")]
    kind: String,
    function: FunctionDef,
}

#[derive(Deserialize)]
struct FunctionDef {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    content: Option<Content>,
    tool_calls: Option<Vec<ToolCallIn>>,
    tool_call_id: Option<String>,
    reasoning_content: Option<String>,
    /// Thinking with its provider signature (the field LiteLLM's clients use): `[{"type":
    /// "thinking", "thinking", "signature"}]`.
    thinking_blocks: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<PartIn>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartIn {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    Refusal { refusal: String },
}

#[derive(Deserialize)]
struct ImageUrl {
    url: String,
}

#[derive(Deserialize)]
struct ToolCallIn {
    id: String,
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    arguments: String,
}

fn image_from_url(url: String) -> Image {
    // data:image/png;base64,XXXX
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return Image::Base64 { media_type: media_type.to_string(), data: data.to_string() };
    }
    Image::Url(url)
}

fn content_parts(c: Option<Content>) -> Vec<Part> {
    match c {
        None => vec![],
        Some(Content::Text(t)) => vec![Part::Text(t)],
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .map(|p| match p {
                PartIn::Text { text } => Part::Text(text),
                PartIn::Refusal { refusal } => Part::Text(refusal),
                PartIn::ImageUrl { image_url } => Part::Image(image_from_url(image_url.url)),
            })
            .collect(),
    }
}

/// Parses a request body; errors name the field at fault.
pub fn parse_request(body: &Value) -> Result<ChatRequest, AiError> {
    // serde would read an array as a struct, field by field: OpenAI refuses it, so do we.
    match body.get("stream_options") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            let got = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            };
            let message = format!("Invalid type for 'stream_options': expected an object, but got {got} instead.");
            return Err(AiError::invalid_param("stream_options", message));
        }
    }
    let req: Req = serde_path_to_error::deserialize(body).map_err(|e| {
        AiError::invalid_param(&e.path().to_string(), format!("invalid request: {}: {}", e.path(), e.inner()))
    })?;
    from_typed(req)
}

/// Parses a request body straight from its bytes, without a JSON tree: `None` when serde
/// refuses it, and [`parse_request`] of the tree then says which field is at fault. Both
/// read the same fields; the tree keeps the last of a repeated key where this refuses it.
pub fn parse_request_bytes(body: &[u8]) -> Option<Result<ChatRequest, AiError>> {
    // serde would also read a top-level array into the struct, field by field.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Req>(body).ok().map(from_typed)
}

fn from_typed(req: Req) -> Result<ChatRequest, AiError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(AiError::invalid_param("n", "n > 1 is not supported"));
    }
    let mut out = ChatRequest {
        model: req.model.unwrap_or_default(),
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: match req.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        stream: req.stream.unwrap_or(false),
        stream_usage: req.stream_options.and_then(|o| o.include_usage).unwrap_or(false),
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user,
        ..ChatRequest::default()
    };
    if let Some(effort) = req.reasoning_effort {
        out.reasoning = Some(Reasoning { effort: Some(Effort::parse(&effort)), budget_tokens: None });
    }
    for t in req.tools.unwrap_or_default() {
        if t.kind != "function" {
            return Err(AiError::invalid_param("tools", format!("tool type {:?} is not supported", t.kind)));
        }
        out.tools.push(Tool {
            name: t.function.name,
            description: t.function.description,
            parameters: t.function.parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    out.tool_choice = match req.tool_choice {
        None => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            other => return Err(AiError::invalid_param("tool_choice", format!("unknown tool_choice {other:?}"))),
        },
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(ToolChoice::Named(name.to_string())),
            None => return Err(AiError::invalid_param("tool_choice", "tool_choice must name a function")),
        },
    };
    out.response_format = match req.response_format {
        None => None,
        Some(v) => match v.get("type").and_then(Value::as_str) {
            Some("text") => Some(ResponseFormat::Text),
            Some("json_object") => Some(ResponseFormat::JsonObject),
            Some("json_schema") => {
                let s = v.get("json_schema").cloned().unwrap_or_default();
                Some(ResponseFormat::JsonSchema {
                    name: s.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
                    schema: s.get("schema").cloned().unwrap_or_else(|| json!({})),
                    strict: s.get("strict").and_then(Value::as_bool),
                })
            }
            _ => return Err(AiError::invalid_param("response_format", "unknown response_format type")),
        },
    };
    for (i, m) in req.messages.into_iter().enumerate() {
        match m.role.as_str() {
            "system" | "developer" => {
                let texts = content_parts(m.content).into_iter().filter_map(|p| match p {
                    Part::Text(t) => Some(t),
                    _ => None,
                });
                out.push_system(texts.collect());
            }
            "user" => out.messages.push(Message { role: Role::User, parts: content_parts(m.content) }),
            "assistant" => {
                let mut parts = thinking_parts(m.reasoning_content, m.thinking_blocks.unwrap_or_default());
                parts.extend(content_parts(m.content));
                for c in m.tool_calls.unwrap_or_default() {
                    parts.push(Part::ToolCall { id: c.id, name: c.function.name, arguments: c.function.arguments });
                }
                out.messages.push(Message { role: Role::Assistant, parts });
            }
            "tool" => {
                let id = m.tool_call_id.ok_or_else(|| {
                    AiError::invalid_param(&format!("messages[{i}].tool_call_id"), "a tool message needs tool_call_id")
                })?;
                let part = Part::ToolResult { id, content: content_parts(m.content), is_error: false };
                // Consecutive tool results travel in one user turn.
                match out.messages.last_mut() {
                    Some(Message { role: Role::User, parts })
                        if parts.iter().all(|p| matches!(p, Part::ToolResult { .. })) && !parts.is_empty() =>
                    {
                        parts.push(part)
                    }
                    _ => out.messages.push(Message { role: Role::User, parts: vec![part] }),
                }
            }
            other => {
                return Err(AiError::invalid_param(&format!("messages[{i}].role"), format!("unknown role {other:?}")));
            }
        }
    }
    Ok(out)
}

/// An assistant message's thinking: its `thinking_blocks` (text and signature), or its
/// `reasoning_content`, signed by the blocks when they carry a signature but no text (how a
/// streamed answer's blocks arrive).
fn thinking_parts(reasoning: Option<String>, blocks: Vec<Value>) -> Vec<Part> {
    let signed: Vec<(String, Option<String>)> = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("thinking"))
        .map(|b| {
            let text = b.get("thinking").and_then(Value::as_str).unwrap_or_default().to_string();
            let signature = b.get("signature").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            (text, signature)
        })
        .collect();
    if signed.iter().any(|(t, _)| !t.is_empty()) {
        return signed.into_iter().map(|(text, signature)| Part::Thinking { text, signature }).collect();
    }
    match reasoning.filter(|r| !r.is_empty()) {
        Some(text) => vec![Part::Thinking { text, signature: signed.into_iter().find_map(|(_, s)| s) }],
        None => vec![],
    }
}

fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

fn part_json(p: &Part) -> Option<Value> {
    match p {
        Part::Text(t) => Some(json!({"type": "text", "text": t})),
        Part::Image(Image::Url(u)) => Some(json!({"type": "image_url", "image_url": {"url": u}})),
        Part::Image(Image::Base64 { media_type, data }) => {
            Some(json!({"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,{data}")}}))
        }
        Part::ToolCall { .. } | Part::ToolResult { .. } | Part::Thinking { .. } => None,
    }
}

/// Builds a request body for an OpenAI-compatible provider.
pub fn build_request(req: &ChatRequest, model: &str) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::System => messages.push(json!({"role": "system", "content": text_of(&m.parts)})),
            Role::User => {
                let (results, others): (Vec<&Part>, Vec<&Part>) =
                    m.parts.iter().partition(|p| matches!(p, Part::ToolResult { .. }));
                for r in results {
                    if let Part::ToolResult { id, content, .. } = r {
                        messages.push(json!({"role": "tool", "tool_call_id": id, "content": text_of(content)}));
                    }
                }
                if !others.is_empty() {
                    let content: Vec<Value> = others.iter().filter_map(|p| part_json(p)).collect();
                    let content = if content.len() == 1 && content[0]["type"] == "text" {
                        content[0]["text"].clone()
                    } else {
                        Value::Array(content)
                    };
                    messages.push(json!({"role": "user", "content": content}));
                }
            }
            Role::Assistant => {
                let text = text_of(&m.parts);
                let calls: Vec<Value> = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall { id, name, arguments } => Some(
                            json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}),
                        ),
                        _ => None,
                    })
                    .collect();
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(m) = req.max_tokens {
        body.insert("max_completion_tokens".into(), json!(m));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        body.insert("top_p".into(), json!(t));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = &req.tool_choice {
        body.insert(
            "tool_choice".into(),
            match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
            },
        );
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(f) = &req.response_format {
        body.insert(
            "response_format".into(),
            match f {
                ResponseFormat::Text => json!({"type": "text"}),
                ResponseFormat::JsonObject => json!({"type": "json_object"}),
                ResponseFormat::JsonSchema { name, schema, strict } => {
                    let mut s = json!({"name": name, "schema": schema});
                    if let Some(st) = strict {
                        s["strict"] = json!(st);
                    }
                    json!({"type": "json_schema", "json_schema": s})
                }
            },
        );
    }
    if let Some(effort) =
        req.reasoning.as_ref().and_then(|r| r.effort.clone().or_else(|| r.budget_tokens.map(Effort::for_budget)))
    {
        body.insert("reasoning_effort".into(), json!(effort.as_str()));
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), json!(u));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

pub fn stop_reason(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

pub fn finish_reason(r: &StopReason) -> &str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
        StopReason::Other(s) => s,
    }
}

pub fn parse_usage(u: &Value) -> Usage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("/prompt_tokens"),
        output: n("/completion_tokens"),
        cache_read: n("/prompt_tokens_details/cached_tokens"),
        cache_creation: 0,
        reasoning: n("/completion_tokens_details/reasoning_tokens"),
        estimated: false,
    }
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    })
}

/// Parses a non-streamed provider response.
pub fn parse_response(v: &Value) -> Result<ChatResponse, AiError> {
    let choice = v.pointer("/choices/0").ok_or_else(|| AiError::upstream("the provider's response has no choices"))?;
    let msg = choice.get("message").cloned().unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(r) = msg.get("reasoning_content").and_then(Value::as_str) {
        parts.push(Part::Thinking { text: r.to_string(), signature: None });
    }
    if let Some(t) = msg.get("content").and_then(Value::as_str)
        && !t.is_empty()
    {
        parts.push(Part::Text(t.to_string()));
    }
    for c in msg.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
        parts.push(Part::ToolCall {
            id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
            name: c.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_string(),
            arguments: c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}").to_string(),
        });
    }
    Ok(ChatResponse {
        id: v.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
        model: v.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        parts,
        stop: choice.get("finish_reason").and_then(Value::as_str).map(stop_reason),
        usage: v.get("usage").filter(|u| u.is_object()).map(parse_usage),
    })
}

/// Renders a response for an OpenAI client.
pub fn render_response(r: &ChatResponse, created: u64) -> Value {
    let text = text_of(&r.parts);
    let calls: Vec<Value> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { id, name, arguments } => {
                Some(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
            }
            _ => None,
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }, "refusal": null});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let thinking: String = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !thinking.is_empty() {
        message["reasoning_content"] = json!(thinking);
    }
    let blocks: Vec<Value> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, signature: Some(s) } => {
                Some(json!({"type": "thinking", "thinking": text, "signature": s}))
            }
            _ => None,
        })
        .collect();
    if !blocks.is_empty() {
        message["thinking_blocks"] = Value::Array(blocks);
    }
    let mut out = json!({
        "id": r.id,
        "object": "chat.completion",
        "created": created,
        "model": r.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": r.stop.as_ref().map(finish_reason).unwrap_or("stop")}],
    });
    if let Some(u) = &r.usage {
        out["usage"] = usage_json(u);
    }
    out
}
