//! Google Gemini `generateContent` as a client speaks it (the Gemini front door): request bodies
//! read into the canonical model, answers written back. The provider direction is
//! [`super::gemini`]; both read parts with [`super::gemini::read_part`].
//!
//! Points where the formats differ:
//! - Field names: Google's JSON mapping accepts both `lowerCamel` and `snake_case` (its own
//!   curl examples send `system_instruction`, `generation_config`); both are read.
//! - Function calls may come without ids, and their responses are then matched by name: a
//!   `functionResponse` without an id answers the earliest unanswered call of that name. Calls
//!   without an id get `call_<n>` (their ordinal in the conversation), which the provider
//!   direction never sends to Gemini.
//! - Thought parts of one model turn are one canonical thinking part; a signature on a thought
//!   is that thinking's, a signature on any other part (a function call) is carried as an empty
//!   thinking part right before it, as the provider direction reads it.
//! - `parameters` schemas use OpenAPI's upper-case type names (`OBJECT`, `STRING`); they are
//!   turned into JSON Schema's. `parametersJsonSchema` is JSON Schema already.
//! - What the canonical model cannot carry to another provider (built-in tools such as
//!   `googleSearch` or `codeExecution`, `safetySettings`, `cachedContent`, code-execution
//!   parts) is dropped with a debug log; a same-format provider gets the body untouched.
//!   `candidateCount` above 1 is refused: one answer is all any front door returns.

use serde_json::{Map, Value, json};

use super::gemini::{Item, PLACEHOLDER_SIGNATURE, generated_id, read_part};
use crate::ai::canonical::*;
use crate::ai::errors::AiError;

/// `v[camel]`, or `v[snake]`: Google's JSON accepts either spelling.
fn field<'v>(v: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    v.get(camel).or_else(|| v.get(snake)).filter(|x| !x.is_null())
}

/// A canonical request from a Gemini body; the model and whether to stream come from the path.
pub fn parse_request(body: &Value, model: &str, stream: bool) -> Result<ChatRequest, AiError> {
    let mut req =
        ChatRequest { model: model.strip_prefix("models/").unwrap_or(model).to_string(), stream, ..Default::default() };
    req.stream_usage = stream;
    if let Some(si) = field(body, "systemInstruction", "system_instruction") {
        req.system.extend(texts_of(si));
    }
    let contents = match body.get("contents") {
        Some(Value::Array(c)) => c.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(AiError::invalid_param("contents", "contents must be a list of Content")),
    };
    let mut calls = Calls::default();
    for (i, c) in contents.iter().enumerate() {
        let role = match c.get("role").and_then(Value::as_str) {
            None | Some("user" | "") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(AiError::invalid_param(
                    &format!("contents[{i}].role"),
                    format!("Please use a valid role: user, model (not {other:?})."),
                ));
            }
        };
        let parts = match c.get("parts") {
            Some(Value::Array(p)) => p.as_slice(),
            _ => {
                return Err(AiError::invalid_param(
                    &format!("contents[{i}].parts"),
                    "contents.parts must not be empty",
                ));
            }
        };
        let parts = match role {
            Role::Assistant => model_parts(parts, &mut calls),
            _ => user_parts(parts, &mut calls),
        };
        if !parts.is_empty() {
            req.messages.push(Message { role, parts });
        }
    }
    if req.messages.is_empty() {
        return Err(AiError::invalid_param("contents", "contents is not specified"));
    }
    read_tools(body, &mut req);
    if let Some(c) = field(body, "generationConfig", "generation_config") {
        read_config(c, &mut req)?;
    }
    for (camel, snake) in [("safetySettings", "safety_settings"), ("cachedContent", "cached_content")] {
        if field(body, camel, snake).is_some() {
            tracing::debug!(field = camel, "a Gemini request field another provider cannot carry is dropped");
        }
    }
    Ok(req)
}

/// The text parts of a `Content` (a system instruction), in order.
fn texts_of(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        _ => content
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
            .collect(),
    }
}

/// The function calls of the conversation so far, to answer responses that carry no id.
#[derive(Default)]
struct Calls {
    /// `(id, name, answered)` in the order they were made.
    made: Vec<(String, String, bool)>,
}

impl Calls {
    fn call(&mut self, id: Option<String>, name: &str) -> String {
        let id = id.unwrap_or_else(|| generated_id(self.made.len()));
        self.made.push((id.clone(), name.to_string(), false));
        id
    }

    /// The id a response answers: its own, or the earliest unanswered call of its name.
    fn answer(&mut self, id: Option<&str>, name: &str) -> String {
        let found = match id {
            Some(id) => self.made.iter_mut().find(|(i, _, _)| i == id),
            None => self.made.iter_mut().find(|(_, n, answered)| n == name && !answered),
        };
        match (found, id) {
            (Some(c), _) => {
                c.2 = true;
                c.0.clone()
            }
            (None, Some(id)) => id.to_string(),
            // A response to no call seen: its own made-up id, so that it stays a tool result.
            (None, None) => self.call(None, name),
        }
    }
}

fn image(blob: &Value, file: bool) -> Option<Image> {
    let s = |k: &str, snake: &str| field(blob, k, snake).and_then(Value::as_str).unwrap_or_default().to_string();
    let media_type = s("mimeType", "mime_type");
    if file {
        let uri = s("fileUri", "file_uri");
        return (!uri.is_empty()).then_some(Image::Url(uri));
    }
    Some(Image::Base64 { media_type, data: s("data", "data") })
}

/// Parts of a user turn: text, images and function responses.
fn user_parts(parts: &[Value], calls: &mut Calls) -> Vec<Part> {
    let mut out = Vec::new();
    for p in parts {
        if let Some(fr) = field(p, "functionResponse", "function_response") {
            let name = fr.get("name").and_then(Value::as_str).unwrap_or_default();
            let id = fr.get("id").and_then(Value::as_str).filter(|i| !i.is_empty());
            let id = calls.answer(id, name);
            let response = fr.get("response").cloned().unwrap_or(Value::Null);
            let (content, is_error) = response_text(&response);
            out.push(Part::ToolResult { id, content: vec![Part::Text(content)], is_error });
        } else if let Some(t) = p.get("text").and_then(Value::as_str) {
            out.push(Part::Text(t.to_string()));
        } else if let Some(blob) = field(p, "inlineData", "inline_data") {
            out.extend(image(blob, false).map(Part::Image));
        } else if let Some(f) = field(p, "fileData", "file_data") {
            out.extend(image(f, true).map(Part::Image));
        } else {
            tracing::debug!("a Gemini part another provider cannot carry is dropped");
        }
    }
    out
}

/// A function response as tool-result text: `{"output": …}` gives the output, `{"error": …}`
/// a failed call, any other object its JSON.
fn response_text(response: &Value) -> (String, bool) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match response.as_object() {
        Some(o) if o.len() == 1 && o.contains_key("output") => (text(&o["output"]), false),
        Some(o) if o.len() == 1 && o.contains_key("error") => (text(&o["error"]), true),
        _ => (text(response), false),
    }
}

/// Parts of a model turn (a history the client sends back).
fn model_parts(parts: &[Value], calls: &mut Calls) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for p in parts {
        let Some(item) = read_part(p) else {
            tracing::debug!("a Gemini part another provider cannot carry is dropped");
            continue;
        };
        match item {
            Item::Thought { text, signature } => match out.last_mut() {
                // Thought parts streamed in pieces are one thinking block, signed by the last.
                Some(Part::Thinking { text: prev, signature: slot }) if slot.is_none() && !prev.is_empty() => {
                    prev.push_str(&text);
                    *slot = signature;
                }
                _ => out.push(Part::Thinking { text, signature }),
            },
            Item::Text(t) => {
                if let Some(s) = p.get("thoughtSignature").and_then(Value::as_str) {
                    out.push(Part::Thinking { text: String::new(), signature: Some(s.to_string()) });
                }
                match out.last_mut() {
                    Some(Part::Text(prev)) => prev.push_str(&t),
                    _ if t.is_empty() => {}
                    _ => out.push(Part::Text(t)),
                }
            }
            Item::Call { id, name, arguments, signature } => {
                // Google's placeholder is no signature at all.
                if let Some(s) = signature.filter(|s| s != PLACEHOLDER_SIGNATURE) {
                    out.push(Part::Thinking { text: String::new(), signature: Some(s) });
                }
                let id = calls.call(id, &name);
                out.push(Part::ToolCall { id, name, arguments });
            }
            Item::Image { media_type, data } => out.push(Part::Image(Image::Base64 { media_type, data })),
        }
    }
    out
}

fn read_tools(body: &Value, req: &mut ChatRequest) {
    for t in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
        let Some(decls) = field(t, "functionDeclarations", "function_declarations").and_then(Value::as_array) else {
            tracing::debug!(tool = %t, "a Gemini built-in tool another provider cannot carry is dropped");
            continue;
        };
        for d in decls {
            let schema = field(d, "parametersJsonSchema", "parameters_json_schema")
                .cloned()
                .or_else(|| d.get("parameters").map(json_schema))
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            req.tools.push(Tool {
                name: d.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                description: d.get("description").and_then(Value::as_str).map(str::to_string),
                parameters: schema,
            });
        }
    }
    let config = field(body, "toolConfig", "tool_config")
        .and_then(|c| field(c, "functionCallingConfig", "function_calling_config"));
    if let Some(c) = config {
        let allowed: Vec<&str> = field(c, "allowedFunctionNames", "allowed_function_names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        req.tool_choice = match c.get("mode").and_then(Value::as_str) {
            Some("NONE") => Some(ToolChoice::None),
            Some("ANY") if allowed.len() == 1 => Some(ToolChoice::Named(allowed[0].to_string())),
            Some("ANY") => Some(ToolChoice::Required),
            Some("AUTO" | "VALIDATED") => Some(ToolChoice::Auto),
            _ => None,
        };
    }
}

/// An OpenAPI-subset schema (Gemini's `parameters`) as JSON Schema: type names lower-cased,
/// `nullable` kept as a type union.
fn json_schema(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, val) in o {
                match (k.as_str(), val) {
                    ("type", Value::String(t)) => {
                        out.insert(k.clone(), Value::String(t.to_ascii_lowercase()));
                    }
                    ("properties", Value::Object(props)) => {
                        let props = props.iter().map(|(n, s)| (n.clone(), json_schema(s))).collect();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    ("items" | "anyOf" | "additionalProperties", _) => {
                        out.insert(k.clone(), json_schema(val));
                    }
                    _ => {
                        out.insert(k.clone(), val.clone());
                    }
                }
            }
            if out.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = out.get("type").cloned()
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

fn read_config(c: &Value, req: &mut ChatRequest) -> Result<(), AiError> {
    let num = |camel: &str, snake: &str| field(c, camel, snake).and_then(Value::as_f64);
    if let Some(n) = field(c, "candidateCount", "candidate_count").and_then(Value::as_u64)
        && n > 1
    {
        return Err(AiError::invalid_param(
            "generationConfig.candidateCount",
            "only one candidate is served through this gateway (candidateCount must be 1)",
        ));
    }
    req.max_tokens = field(c, "maxOutputTokens", "max_output_tokens")
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    req.temperature = num("temperature", "temperature");
    req.top_p = num("topP", "top_p");
    req.stop = field(c, "stopSequences", "stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let mime = field(c, "responseMimeType", "response_mime_type").and_then(Value::as_str);
    if mime == Some("application/json") {
        let schema = field(c, "responseJsonSchema", "response_json_schema")
            .cloned()
            .or_else(|| field(c, "responseSchema", "response_schema").map(json_schema));
        req.response_format = Some(match schema {
            Some(schema) => ResponseFormat::JsonSchema { name: "response".into(), schema, strict: None },
            None => ResponseFormat::JsonObject,
        });
    }
    if let Some(t) = field(c, "thinkingConfig", "thinking_config") {
        let budget = field(t, "thinkingBudget", "thinking_budget").and_then(Value::as_i64);
        let level = field(t, "thinkingLevel", "thinking_level").and_then(Value::as_str);
        req.reasoning = match (budget, level) {
            // -1: dynamic thinking, the provider's own choice.
            (Some(b), _) if b < 0 => Some(Reasoning { effort: None, budget_tokens: None }),
            (Some(b), _) => Some(Reasoning { effort: None, budget_tokens: Some(u32::try_from(b).unwrap_or(u32::MAX)) }),
            (None, Some(l)) => {
                Some(Reasoning { effort: Some(Effort::parse(&l.to_ascii_lowercase())), budget_tokens: None })
            }
            (None, None) => None,
        };
    }
    Ok(())
}

/// Google's finish reason for a canonical stop.
pub fn finish_reason(r: &StopReason) -> &str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        StopReason::Other(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => s,
        StopReason::Other(_) => "OTHER",
    }
}

/// `usageMetadata`: thoughts are reported apart from the candidates' tokens, cached tokens as
/// a part of the prompt's.
pub fn usage_json(u: &Usage) -> Value {
    let mut v = json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output.saturating_sub(u.reasoning),
        "totalTokenCount": u.input + u.output,
    });
    if u.cache_read > 0 {
        v["cachedContentTokenCount"] = json!(u.cache_read);
    }
    if u.reasoning > 0 {
        v["thoughtsTokenCount"] = json!(u.reasoning);
    }
    v
}

/// One part of a model turn; `signature`: the thought signature it carries.
pub fn part_json(p: &Part, signature: Option<&str>) -> Option<Value> {
    let mut v = match p {
        Part::Text(t) => json!({"text": t}),
        Part::Thinking { text, signature: own } => {
            let mut v = json!({"text": text, "thought": true});
            if let Some(s) = own.as_deref().filter(|s| !s.is_empty()) {
                v["thoughtSignature"] = json!(s);
            }
            return Some(v);
        }
        Part::ToolCall { id, name, arguments } => {
            let args = match serde_json::from_str::<Value>(arguments) {
                Ok(v @ Value::Object(_)) => v,
                _ => json!({}),
            };
            json!({"functionCall": {"id": id, "name": name, "args": args}})
        }
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        Part::Image(Image::Url(url)) => json!({"fileData": {"fileUri": url}}),
        Part::ToolResult { .. } => return None,
    };
    if let Some(s) = signature {
        v["thoughtSignature"] = json!(s);
    }
    Some(v)
}

/// A whole answer as a `GenerateContentResponse`.
pub fn render_response(r: &ChatResponse, model: &str) -> Value {
    let mut parts = Vec::new();
    // The signature of an empty thinking part goes on the part after it.
    let mut pending: Option<&str> = None;
    for p in &r.parts {
        match p {
            Part::Thinking { text, signature } if text.is_empty() => {
                pending = signature.as_deref().filter(|s| !s.is_empty()).or(pending);
            }
            _ => parts.extend(part_json(p, pending.take())),
        }
    }
    if let Some(s) = pending {
        parts.push(json!({"text": "", "thought": true, "thoughtSignature": s}));
    }
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(stop) = &r.stop {
        candidate["finishReason"] = json!(finish_reason(stop));
    }
    let mut v = json!({
        "candidates": [candidate],
        "modelVersion": if r.model.is_empty() { model } else { &r.model },
        "responseId": r.id,
    });
    if let Some(u) = &r.usage {
        v["usageMetadata"] = usage_json(u);
    }
    v
}
