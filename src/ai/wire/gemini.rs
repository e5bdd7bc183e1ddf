//! Google Gemini `generateContent` as a provider speaks it: request bodies built from the
//! canonical model, and responses read back into it. The client direction (the Gemini front
//! door) is [`super::gemini_client`].
//!
//! Points where the formats differ:
//! - Roles are `user` and `model`; the system prompt is `systemInstruction`; tool results are
//!   `functionResponse` parts of a user turn, named after the function they answer (looked up
//!   from the call with the same id earlier in the conversation).
//! - Gemini's function calls may come without ids: such a call gets `call_<n>`, its ordinal in
//!   the response. Ids that Sluice did not make up are sent back as `functionCall.id` and
//!   `functionResponse.id`.
//! - Thought signatures (opaque reasoning state Gemini 3 wants back on function calls) travel
//!   as canonical thinking parts: a thought part keeps its own, and the signature of a function
//!   call becomes an empty thinking part right before it. A model turn whose function calls
//!   carry none (a history written by another provider, or by an OpenAI client) gets Google's
//!   documented placeholder on its first call.
//! - Tool schemas and JSON-mode schemas go as JSON Schema (`parametersJsonSchema`,
//!   `responseJsonSchema`), not through the OpenAPI subset of `parameters`/`responseSchema`.

use serde_json::{Map, Value, json};

use crate::ai::canonical::*;
use crate::ai::errors::AiError;

/// The signature Google documents for function calls whose real signature is unknown.
pub const PLACEHOLDER_SIGNATURE: &str = "skip_thought_signature_validator";

/// The id Sluice gives the `n`-th function call of a response that carries none.
pub fn generated_id(n: usize) -> String {
    format!("call_{n}")
}

fn is_generated_id(id: &str) -> bool {
    id.strip_prefix("call_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn image_part(img: &Image) -> Value {
    match img {
        Image::Base64 { media_type, data } => json!({"inlineData": {"mimeType": media_type, "data": data}}),
        Image::Url(url) => json!({"fileData": {"mimeType": mime_from_url(url), "fileUri": url}}),
    }
}

fn mime_from_url(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        _ => "image/jpeg",
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

/// The name of the function that the call `id` (made earlier in `history`) invoked.
fn call_name<'a>(history: &'a [Message], id: &'a str) -> &'a str {
    history
        .iter()
        .rev()
        .flat_map(|m| m.parts.iter())
        .find_map(|p| match p {
            Part::ToolCall { id: call, name, .. } if call == id => Some(name.as_str()),
            _ => None,
        })
        .unwrap_or(id)
}

/// A tool result as a `functionResponse.response` object: a JSON object result as it is,
/// anything else under `output` (or `error` for a failed call), as Google recommends.
fn function_response(content: &[Part], is_error: bool) -> Value {
    let text = text_of(content);
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::String(text),
    };
    match (is_error, value) {
        (true, v) => json!({"error": v}),
        (false, v @ Value::Object(_)) => v,
        (false, v) => json!({"output": v}),
    }
}

fn user_parts(history: &[Message], parts: &[Part]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) if !t.is_empty() => out.push(json!({"text": t})),
            Part::Image(img) => out.push(image_part(img)),
            Part::ToolResult { id, content, is_error } => {
                let mut fr = json!({"name": call_name(history, id), "response": function_response(content, *is_error)});
                if !is_generated_id(id) {
                    fr["id"] = json!(id);
                }
                out.push(json!({"functionResponse": fr}));
            }
            Part::Text(_) | Part::ToolCall { .. } | Part::Thinking { .. } => {}
        }
    }
    out
}

fn model_parts(parts: &[Part]) -> Vec<Value> {
    let mut out = Vec::new();
    // A signature seen on an empty thinking part belongs to the part after it.
    let mut pending: Option<&str> = None;
    for p in parts {
        let mut part = match p {
            Part::Thinking { text, signature } if text.is_empty() => {
                pending = signature.as_deref().filter(|s| !s.is_empty()).or(pending);
                continue;
            }
            Part::Thinking { text, signature } => {
                let mut v = json!({"text": text, "thought": true});
                if let Some(s) = signature.as_deref().filter(|s| !s.is_empty()) {
                    v["thoughtSignature"] = json!(s);
                }
                out.push(v);
                continue;
            }
            Part::Text(t) if t.is_empty() => continue,
            Part::Text(t) => json!({"text": t}),
            Part::Image(img) => image_part(img),
            Part::ToolCall { id, name, arguments } => {
                let args = match serde_json::from_str::<Value>(arguments) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({}),
                };
                let mut call = json!({"name": name, "args": args});
                if !is_generated_id(id) {
                    call["id"] = json!(id);
                }
                json!({"functionCall": call})
            }
            Part::ToolResult { .. } => continue,
        };
        if let Some(s) = pending.take() {
            part["thoughtSignature"] = json!(s);
        }
        out.push(part);
    }
    // Gemini 3 refuses a function call turn whose calls carry no signature.
    let calls = || out.iter().filter(|p| p.get("functionCall").is_some());
    if calls().next().is_some()
        && calls().all(|p| p.get("thoughtSignature").is_none())
        && let Some(first) = out.iter_mut().find(|p| p.get("functionCall").is_some())
    {
        first["thoughtSignature"] = json!(PLACEHOLDER_SIGNATURE);
    }
    out
}

/// The `generateContent` body for a canonical request (the model goes in the path).
pub fn build_request(req: &ChatRequest) -> Value {
    let mut contents: Vec<Value> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::User => ("user", user_parts(&req.messages[..i], &m.parts)),
            Role::Assistant => ("model", model_parts(&m.parts)),
            // In the system instruction (`system_texts`).
            Role::System => continue,
        };
        if parts.is_empty() {
            continue;
        }
        // Consecutive turns of one role (tool results, then the user's next words) become one.
        super::turns::push(&mut contents, role, "parts", parts);
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    let system = req.system_texts();
    if !system.is_empty() {
        let parts: Vec<Value> = system.iter().map(|s| json!({"text": s})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "parametersJsonSchema": t.parameters});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        if let Some(choice) = &req.tool_choice {
            let config = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Named(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
            };
            body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
        }
    }
    let config = generation_config(req);
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

fn generation_config(req: &ChatRequest) -> Map<String, Value> {
    let mut c = Map::new();
    if let Some(m) = req.max_tokens {
        c.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(t) = req.temperature {
        c.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        c.insert("topP".into(), json!(t));
    }
    if !req.stop.is_empty() {
        c.insert("stopSequences".into(), json!(req.stop));
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            c.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            c.insert("responseMimeType".into(), json!("application/json"));
            c.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if let Some(r) = &req.reasoning {
        // Neither a budget nor an effort: Gemini's dynamic thinking (-1).
        let budget = if r.budget_tokens.is_none() && r.effort.is_none() { -1 } else { i64::from(r.budget()) };
        c.insert("thinkingConfig".into(), json!({"thinkingBudget": budget, "includeThoughts": budget != 0}));
    }
    c
}

/// What one part of a Gemini answer is.
pub(super) enum Item {
    Thought { text: String, signature: Option<String> },
    Text(String),
    Call { id: Option<String>, name: String, arguments: String, signature: Option<String> },
    Image { media_type: String, data: String },
}

pub(super) fn read_part(p: &Value) -> Option<Item> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let signature = s(p.get("thoughtSignature"));
    if let Some(call) = p.get("functionCall") {
        return Some(Item::Call {
            id: s(call.get("id")).filter(|i| !i.is_empty()),
            name: s(call.get("name")).unwrap_or_default(),
            arguments: call.get("args").filter(|a| a.is_object()).map_or_else(|| "{}".to_string(), Value::to_string),
            signature,
        });
    }
    if let Some(text) = s(p.get("text")) {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            return Some(Item::Thought { text, signature });
        }
        // A signature on a plain text part matters only to Gemini's own multi-turn context
        // and has no place in either client format: it is dropped.
        return Some(Item::Text(text));
    }
    if let Some(blob) = p.get("inlineData") {
        return Some(Item::Image {
            media_type: s(blob.get("mimeType")).unwrap_or_default(),
            data: s(blob.get("data")).unwrap_or_default(),
        });
    }
    None
}

pub fn stop_reason(reason: &str, tool_calls: bool) -> StopReason {
    match reason {
        "STOP" if tool_calls => StopReason::ToolUse,
        "STOP" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// `promptTokenCount` includes the cached tokens, as the canonical `input` does; thoughts are
/// output tokens (billed as such) and the reasoning part of them.
pub fn parse_usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = n("thoughtsTokenCount");
    Usage {
        input: n("promptTokenCount") + n("toolUsePromptTokenCount"),
        output: n("candidatesTokenCount") + thoughts,
        cache_read: n("cachedContentTokenCount"),
        cache_creation: 0,
        reasoning: thoughts,
        estimated: false,
    }
}

pub fn parse_response(v: &Value) -> Result<ChatResponse, AiError> {
    let candidate = v.pointer("/candidates/0");
    let blocked = v.pointer("/promptFeedback/blockReason").and_then(Value::as_str);
    if candidate.is_none() && blocked.is_none() {
        return Err(AiError::upstream("the provider's response has no candidates"));
    }
    let mut parts = Vec::new();
    let mut calls = 0;
    let raw_parts = candidate.and_then(|c| c.pointer("/content/parts")).and_then(Value::as_array);
    for item in raw_parts.into_iter().flatten().filter_map(read_part) {
        match item {
            Item::Thought { text, signature } => parts.push(Part::Thinking { text, signature }),
            Item::Text(t) if t.is_empty() => {}
            Item::Text(t) => match parts.last_mut() {
                // Gemini may split one answer over several text parts.
                Some(Part::Text(prev)) => prev.push_str(&t),
                _ => parts.push(Part::Text(t)),
            },
            Item::Call { id, name, arguments, signature } => {
                if signature.is_some() {
                    parts.push(Part::Thinking { text: String::new(), signature });
                }
                parts.push(Part::ToolCall { id: id.unwrap_or_else(|| generated_id(calls)), name, arguments });
                calls += 1;
            }
            Item::Image { media_type, data } => parts.push(Part::Image(Image::Base64 { media_type, data })),
        }
    }
    let stop = match (candidate.and_then(|c| c.get("finishReason")).and_then(Value::as_str), blocked) {
        (Some(r), _) => Some(stop_reason(r, calls > 0)),
        (None, Some(_)) => Some(StopReason::ContentFilter),
        (None, None) => None,
    };
    Ok(ChatResponse {
        id: v.get("responseId").and_then(Value::as_str).unwrap_or_default().to_string(),
        model: v.get("modelVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
        parts,
        stop,
        usage: v.get("usageMetadata").filter(|u| u.is_object()).map(parse_usage),
    })
}
