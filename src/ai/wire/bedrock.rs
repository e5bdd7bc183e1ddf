//! AWS Bedrock Runtime `Converse`: request bodies built from the canonical model, and responses
//! read back into it. Bedrock is only ever a provider here.
//!
//! Points where the formats differ:
//! - Content blocks are single-key objects (`{"text": …}`, `{"toolUse": …}`, `{"toolResult": …}`,
//!   `{"image": …}`, `{"reasoningContent": …}`); the system prompt is a top-level `system`
//!   array; sampling settings live in `inferenceConfig`; tools in `toolConfig`.
//! - Images travel as bytes only (`source.bytes`, base64 in JSON): an image given by URL cannot
//!   be sent and is refused with a clear 400 rather than fetched by the gateway.
//! - Tool choice has `auto`, `any` and `tool`; there is no `none`, so "none" sends the tools
//!   (needed when the history holds tool blocks) without a choice, or no tools at all.
//! - JSON mode and schemas go in `outputConfig.textFormat` (a `json_schema` structure whose
//!   schema is a JSON *string*).
//! - Thinking is model-specific: for Anthropic models it goes in
//!   `additionalModelRequestFields.thinking`, as on Anthropic's own API.
//! - Usage: `inputTokens` excludes cache reads and writes (`cacheReadInputTokens`,
//!   `cacheWriteInputTokens`); the canonical `input` includes them.

use serde_json::{Map, Value, json};

use crate::ai::canonical::*;
use crate::ai::errors::AiError;

/// Bedrock's image formats, from a media type.
fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

fn image_block(img: &Image) -> Result<Value, AiError> {
    match img {
        Image::Base64 { media_type, data } => {
            let format = image_format(media_type).ok_or_else(|| {
                AiError::invalid(format!("Bedrock accepts png, jpeg, gif and webp images, not {media_type}"))
            })?;
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        Image::Url(url) => {
            let shown: String = url.chars().take(80).collect();
            Err(AiError::invalid(format!(
                "Bedrock accepts images as bytes only (a data: URL or base64 source), not by URL: {shown}"
            )))
        }
    }
}

/// A tool result's content: text blocks, a JSON object as `{"json": …}`, images as bytes.
fn tool_result_content(content: &[Part]) -> Result<Vec<Value>, AiError> {
    let mut out = Vec::new();
    for p in content {
        match p {
            Part::Text(t) => match serde_json::from_str::<Value>(t) {
                Ok(v @ Value::Object(_)) => out.push(json!({"json": v})),
                _ => out.push(json!({"text": t})),
            },
            Part::Image(img) => out.push(image_block(img)?),
            Part::ToolCall { .. } | Part::ToolResult { .. } | Part::Thinking { .. } => {}
        }
    }
    if out.is_empty() {
        out.push(json!({"text": ""}));
    }
    Ok(out)
}

fn blocks(parts: &[Part]) -> Result<Vec<Value>, AiError> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => out.push(json!({"text": t})),
            Part::Image(img) => out.push(image_block(img)?),
            Part::ToolCall { id, name, arguments } => {
                let input = match serde_json::from_str::<Value>(arguments) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({}),
                };
                out.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
            }
            Part::ToolResult { id, content, is_error } => {
                out.push(json!({"toolResult": {
                    "toolUseId": id,
                    "content": tool_result_content(content)?,
                    "status": if *is_error { "error" } else { "success" },
                }}));
            }
            // A signature alone (another provider's opaque state) has no Bedrock block.
            Part::Thinking { text, .. } if text.is_empty() => {}
            Part::Thinking { text, signature } => {
                let mut r = json!({"text": text});
                if let Some(s) = signature.as_deref().filter(|s| !s.is_empty()) {
                    r["signature"] = json!(s);
                }
                out.push(json!({"reasoningContent": {"reasoningText": r}}));
            }
        }
    }
    Ok(out)
}

fn is_anthropic_model(model: &str) -> bool {
    model.contains("anthropic.") || model.contains("claude")
}

/// The `Converse` body for a canonical request (the model goes in the path).
pub fn build_request(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            // In the system prompt (`system_texts`).
            Role::System => continue,
        };
        let content = blocks(&m.parts)?;
        if content.is_empty() {
            continue;
        }
        // Bedrock wants roles to alternate: consecutive turns of one role become one.
        super::turns::push(&mut messages, role, "content", content);
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    let system = req.system_texts();
    if !system.is_empty() {
        body.insert("system".into(), system.iter().map(|s| json!({"text": s})).collect());
    }
    let mut inference = Map::new();
    if let Some(m) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(m));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        inference.insert("topP".into(), json!(t));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    let history_has_tools = req
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .any(|p| matches!(p, Part::ToolCall { .. } | Part::ToolResult { .. }));
    let send_tools = !req.tools.is_empty() && (req.tool_choice != Some(ToolChoice::None) || history_has_tools);
    if send_tools {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut spec = json!({"name": t.name, "inputSchema": {"json": t.parameters}});
                if let Some(d) = &t.description {
                    spec["description"] = json!(d);
                }
                json!({"toolSpec": spec})
            })
            .collect();
        let mut config = json!({"tools": tools});
        match &req.tool_choice {
            None | Some(ToolChoice::None) => {}
            Some(ToolChoice::Auto) => config["toolChoice"] = json!({"auto": {}}),
            Some(ToolChoice::Required) => config["toolChoice"] = json!({"any": {}}),
            Some(ToolChoice::Named(n)) => config["toolChoice"] = json!({"tool": {"name": n}}),
        }
        body.insert("toolConfig".into(), config);
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            body.insert("outputConfig".into(), output_config("json_object", &json!({"type": "object"})));
        }
        Some(ResponseFormat::JsonSchema { name, schema, .. }) => {
            body.insert("outputConfig".into(), output_config(name, schema));
        }
    }
    if let Some(r) = &req.reasoning
        && is_anthropic_model(model)
    {
        let budget = r.budget();
        if budget > 0 {
            body.insert(
                "additionalModelRequestFields".into(),
                json!({"thinking": {"type": "enabled", "budget_tokens": budget}}),
            );
        }
    }
    Ok(Value::Object(body))
}

fn output_config(name: &str, schema: &Value) -> Value {
    json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"name": name, "schema": schema.to_string()}}}})
}

pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

pub fn parse_usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = n("cacheReadInputTokens");
    let cache_creation = n("cacheWriteInputTokens");
    Usage {
        input: n("inputTokens") + cache_read + cache_creation,
        output: n("outputTokens"),
        cache_read,
        cache_creation,
        reasoning: 0,
        estimated: false,
    }
}

/// One content block of an answer.
pub(super) fn read_block(b: &Value) -> Option<Part> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(t) = b.get("text") {
        return Some(Part::Text(t.as_str().unwrap_or_default().to_string()));
    }
    if let Some(u) = b.get("toolUse") {
        return Some(Part::ToolCall {
            id: s(u.get("toolUseId")),
            name: s(u.get("name")),
            arguments: u.get("input").map_or_else(|| "{}".to_string(), Value::to_string),
        });
    }
    if let Some(r) = b.pointer("/reasoningContent/reasoningText") {
        return Some(Part::Thinking {
            text: s(r.get("text")),
            signature: r.get("signature").and_then(Value::as_str).map(str::to_string),
        });
    }
    if let Some(img) = b.get("image") {
        let format = img.get("format").and_then(Value::as_str).unwrap_or("png");
        return Some(Part::Image(Image::Base64 {
            media_type: format!("image/{format}"),
            data: s(img.pointer("/source/bytes")),
        }));
    }
    None
}

pub fn parse_response(v: &Value) -> Result<ChatResponse, AiError> {
    let content = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::upstream("the provider's response has no output.message.content"))?;
    Ok(ChatResponse {
        // Converse answers carry no id; the request id header is the closest, and optional.
        id: String::new(),
        model: String::new(),
        parts: content.iter().filter_map(read_block).collect(),
        stop: v.get("stopReason").and_then(Value::as_str).map(stop_reason),
        usage: v.get("usage").filter(|u| u.is_object()).map(parse_usage),
    })
}
