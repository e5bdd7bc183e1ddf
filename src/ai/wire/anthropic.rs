//! Anthropic Messages: requests and responses, to and from the canonical model.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ai::canonical::*;
use crate::ai::errors::AiError;

#[derive(Deserialize)]
struct Req {
    model: Option<String>,
    max_tokens: Option<u32>,
    messages: Vec<Msg>,
    system: Option<System>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop_sequences: Option<Vec<String>>,
    tools: Option<Vec<ToolDef>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum System {
    Text(String),
    Blocks(Vec<TextBlock>),
}

#[derive(Deserialize)]
struct TextBlock {
    text: String,
}

#[derive(Deserialize)]
struct ToolDef {
    name: String,
    description: Option<String>,
    input_schema: Option<Value>,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<Content>,
        is_error: Option<bool>,
    },
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {},
    /// A block other formats cannot carry (documents, server tool results, …): dropped when
    /// translating (same-format requests go through untouched).
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

fn blocks(c: Content) -> Vec<Part> {
    match c {
        Content::Text(t) => vec![Part::Text(t)],
        Content::Blocks(bs) => bs
            .into_iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(Part::Text(text)),
                Block::Image { source: ImageSource::Base64 { media_type, data } } => {
                    Some(Part::Image(Image::Base64 { media_type, data }))
                }
                Block::Image { source: ImageSource::Url { url } } => Some(Part::Image(Image::Url(url))),
                Block::ToolUse { id, name, input } => Some(Part::ToolCall { id, name, arguments: input.to_string() }),
                Block::ToolResult { tool_use_id, content, is_error } => Some(Part::ToolResult {
                    id: tool_use_id,
                    content: content.map(blocks).unwrap_or_default(),
                    is_error: is_error.unwrap_or(false),
                }),
                Block::Thinking { thinking, signature } => Some(Part::Thinking { text: thinking, signature }),
                Block::RedactedThinking {} => None,
                Block::Other => {
                    tracing::debug!("a content block other formats cannot carry was dropped");
                    None
                }
            })
            .collect(),
    }
}

pub fn parse_request(body: &Value) -> Result<ChatRequest, AiError> {
    let req: Req = serde_path_to_error::deserialize(body)
        .map_err(|e| AiError::invalid_param(&e.path().to_string(), format!("{}: {}", e.path(), e.inner())))?;
    let max_tokens =
        req.max_tokens.ok_or_else(|| AiError::invalid_param("max_tokens", "max_tokens: Field required"))?;
    let mut out = ChatRequest {
        model: req.model.unwrap_or_default(),
        max_tokens: Some(max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.unwrap_or_default(),
        stream: req.stream.unwrap_or(false),
        stream_usage: true,
        user: req.metadata.as_ref().and_then(|m| m.get("user_id")).and_then(Value::as_str).map(str::to_string),
        ..ChatRequest::default()
    };
    out.system = match req.system {
        None => vec![],
        Some(System::Text(t)) => vec![t],
        Some(System::Blocks(b)) => b.into_iter().map(|b| b.text).collect(),
    };
    for (i, m) in req.messages.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // Claude Code sends system reminders as messages of their own.
            "system" => {
                let texts = blocks(m.content).into_iter().filter_map(|p| match p {
                    Part::Text(t) => Some(t),
                    _ => None,
                });
                out.push_system(texts.collect());
                continue;
            }
            other => {
                return Err(AiError::invalid_param(&format!("messages.{i}.role"), format!("unknown role {other:?}")));
            }
        };
        out.messages.push(Message { role, parts: blocks(m.content) });
    }
    for t in req.tools.unwrap_or_default() {
        out.tools.push(Tool {
            name: t.name,
            description: t.description,
            parameters: t.input_schema.unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    if let Some(tc) = req.tool_choice {
        out.tool_choice = match tc.get("type").and_then(Value::as_str) {
            Some("auto") => Some(ToolChoice::Auto),
            Some("any") => Some(ToolChoice::Required),
            Some("none") => Some(ToolChoice::None),
            Some("tool") => {
                Some(ToolChoice::Named(tc.get("name").and_then(Value::as_str).unwrap_or_default().to_string()))
            }
            _ => return Err(AiError::invalid_param("tool_choice", "unknown tool_choice type")),
        };
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            out.parallel_tool_calls = Some(false);
        }
    }
    if let Some(th) = req.thinking
        && th.get("type").and_then(Value::as_str) == Some("enabled")
    {
        let budget = th.get("budget_tokens").and_then(Value::as_u64).and_then(|b| u32::try_from(b).ok());
        out.reasoning = Some(Reasoning { effort: None, budget_tokens: budget });
    }
    Ok(out)
}

/// A block of a message; `None` for thinking without a signature, which Anthropic refuses
/// (it is never sent with an empty one).
fn block_json(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        Part::Image(Image::Url(u)) => json!({"type": "image", "source": {"type": "url", "url": u}}),
        Part::ToolCall { id, name, arguments } => {
            let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult { id, content, is_error } => {
            let content: Vec<Value> = content.iter().filter_map(block_json).collect();
            let mut v = json!({"type": "tool_result", "tool_use_id": id, "content": content});
            if *is_error {
                v["is_error"] = json!(true);
            }
            v
        }
        Part::Thinking { text, signature: Some(s) } if !s.is_empty() => {
            json!({"type": "thinking", "thinking": text, "signature": s})
        }
        Part::Thinking { .. } => {
            tracing::debug!("thinking without a signature left out: Anthropic refuses it");
            return None;
        }
    })
}

/// Whether thinking can stay on: Anthropic wants the last assistant turn, when it calls tools,
/// to start with the signed thinking it issued.
fn tool_turn_signed(req: &ChatRequest) -> bool {
    let Some(last) = req.messages.iter().rev().find(|m| m.role == Role::Assistant) else { return true };
    let calls = last.parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let signed = last.parts.iter().any(|p| matches!(p, Part::Thinking { signature: Some(s), .. } if !s.is_empty()));
    !calls || signed
}

/// Default when the client (OpenAI format) gives no max_tokens: Anthropic requires one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

pub fn build_request(req: &ChatRequest, model: &str) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter_map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
                // In the system prompt (`system_texts`).
                Role::System => return None,
            };
            Some(json!({"role": role, "content": m.parts.iter().filter_map(block_json).collect::<Vec<_>>()}))
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    let system = req.system_texts();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        body.insert("top_p".into(), json!(t));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut v = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    v["description"] = json!(d);
                }
                v
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let disable_parallel = req.parallel_tool_calls == Some(false);
    let choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n})),
        None if disable_parallel && !req.tools.is_empty() => Some(json!({"type": "auto"})),
        None => None,
    };
    if let Some(mut c) = choice {
        if disable_parallel {
            c["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), c);
    }
    if let Some(r) = &req.reasoning {
        let wanted = r.budget();
        // Anthropic needs budget_tokens >= 1024 and below max_tokens, and no sampling
        // parameters with thinking; a budget that cannot fit turns thinking off.
        let max = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        let budget = wanted.min(max.saturating_sub(1));
        let signed = tool_turn_signed(req);
        if !signed {
            tracing::info!(
                "thinking turned off for this request: the tool-calling turn came back without the signed \
                 thinking Anthropic requires"
            );
        }
        if budget >= MIN_THINKING_BUDGET && signed {
            body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            body.remove("temperature");
            body.remove("top_p");
        }
    }
    if let Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }) = &req.response_format {
        // Anthropic has no JSON mode: ask for it in the system prompt.
        let hint = match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => {
                format!("Respond only with a JSON value that conforms to this JSON Schema: {schema}")
            }
            _ => "Respond only with a valid JSON object.".to_string(),
        };
        let system = match body.get("system").and_then(Value::as_str) {
            Some(s) => format!("{s}\n\n{hint}"),
            None => hint,
        };
        body.insert("system".into(), json!(system));
    }
    if let Some(u) = &req.user {
        body.insert("metadata".into(), json!({"user_id": u}));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

pub fn stop_reason(s: &str) -> StopReason {
    match s {
        "end_turn" | "pause_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

pub fn stop_reason_str(r: &StopReason) -> &str {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
        StopReason::Other(s) => s,
    }
}

/// Anthropic's `input_tokens` excludes cache reads and writes; the canonical `input` includes them.
pub fn parse_usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = n("cache_read_input_tokens");
    let cache_creation = n("cache_creation_input_tokens");
    Usage {
        input: n("input_tokens") + cache_read + cache_creation,
        output: n("output_tokens"),
        cache_read,
        cache_creation,
        reasoning: 0,
        estimated: false,
    }
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input.saturating_sub(u.cache_read + u.cache_creation),
        "output_tokens": u.output,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation_input_tokens": u.cache_creation,
    })
}

pub fn parse_response(v: &Value) -> Result<ChatResponse, AiError> {
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::upstream("the provider's response has no content"))?;
    let parts = content
        .iter()
        .filter_map(|b| match b.get("type").and_then(Value::as_str)? {
            "text" => Some(Part::Text(b.get("text").and_then(Value::as_str).unwrap_or_default().to_string())),
            "tool_use" => Some(Part::ToolCall {
                id: b.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                name: b.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                arguments: b.get("input").map_or_else(|| "{}".to_string(), Value::to_string),
            }),
            "thinking" => Some(Part::Thinking {
                text: b.get("thinking").and_then(Value::as_str).unwrap_or_default().to_string(),
                signature: b.get("signature").and_then(Value::as_str).map(str::to_string),
            }),
            _ => None,
        })
        .collect();
    Ok(ChatResponse {
        id: v.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
        model: v.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        parts,
        stop: v.get("stop_reason").and_then(Value::as_str).map(stop_reason),
        usage: v.get("usage").filter(|u| u.is_object()).map(parse_usage),
    })
}

pub fn render_response(r: &ChatResponse) -> Value {
    // Thinking of another provider has no Anthropic signature: the client gets an empty one
    // (the shape Anthropic's SDKs expect), which Sluice never forwards to a provider.
    let content: Vec<Value> = r
        .parts
        .iter()
        .filter(|p| !matches!(p, Part::ToolResult { .. }))
        .map(|p| match p {
            Part::Thinking { text, signature: None } => json!({"type": "thinking", "thinking": text, "signature": ""}),
            p => block_json(p).unwrap_or(Value::Null),
        })
        .filter(|v| !v.is_null())
        .collect();
    json!({
        "id": if r.id.starts_with("msg_") { r.id.clone() } else { format!("msg_{}", r.id) },
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": r.stop.as_ref().map(stop_reason_str).unwrap_or("end_turn"),
        "stop_sequence": null,
        "usage": usage_json(&r.usage.unwrap_or_default()),
    })
}
