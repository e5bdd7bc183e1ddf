//! The canonical chat model every wire format translates to and from: a request, a response,
//! and the events of a streamed response.

use serde_json::Value;

/// A chat request in no particular wire format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// System prompt parts, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// The client asked for usage in the stream (OpenAI `stream_options.include_usage`).
    pub stream_usage: bool,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// A system message in the middle of the conversation (system prompts before the first
    /// turn are [`ChatRequest::system`]). Formats that take system text only once, up front,
    /// get it there ([`ChatRequest::system_texts`]); the others in place.
    System,
}

impl ChatRequest {
    /// Every system text, in order: the leading system prompt, then the system messages of
    /// the conversation. For formats with one system prompt up front (Anthropic, Gemini,
    /// Bedrock): the nearest they have to a system message in place.
    pub fn system_texts(&self) -> Vec<&str> {
        let inline = self.messages.iter().filter(|m| m.role == Role::System).flat_map(|m| {
            m.parts.iter().filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
        });
        self.system.iter().map(String::as_str).chain(inline).collect()
    }

    /// Adds system text from the client: the system prompt while no turn has been seen, a
    /// system message in place after.
    pub fn push_system(&mut self, texts: Vec<String>) {
        if self.messages.is_empty() {
            self.system.extend(texts);
        } else if !texts.is_empty() {
            self.messages.push(Message { role: Role::System, parts: texts.into_iter().map(Part::Text).collect() });
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    /// A call the assistant made; `arguments` is JSON text.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// The answer to a tool call, sent by the user side.
    ToolResult {
        id: String,
        content: Vec<Part>,
        is_error: bool,
    },
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Url(String),
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value, strict: Option<bool> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reasoning {
    /// OpenAI's reasoning effort.
    pub effort: Option<Effort>,
    /// A thinking budget in tokens (Anthropic's, Gemini's).
    pub budget_tokens: Option<u32>,
}

impl Reasoning {
    /// The thinking budget for providers that take one: the client's own, or its effort's.
    pub fn budget(&self) -> u32 {
        self.budget_tokens.unwrap_or_else(|| self.effort.as_ref().unwrap_or(&Effort::Medium).budget())
    }
}

/// OpenAI's reasoning efforts. Budget providers (Anthropic, Claude on Bedrock and Vertex,
/// Gemini) get one table of budgets, Google's (its OpenAI compatibility layer maps efforts
/// the same way); a value Sluice does not know passes through to OpenAI providers and counts
/// as `medium` elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
    Other(String),
}

impl Effort {
    pub fn parse(s: &str) -> Effort {
        match s {
            "none" => Effort::None,
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" => Effort::XHigh,
            other => Effort::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Other(s) => s,
        }
    }

    /// The thinking budget in tokens (0: no thinking).
    pub fn budget(&self) -> u32 {
        match self {
            Effort::None => 0,
            Effort::Minimal | Effort::Low => 1024,
            Effort::Medium | Effort::Other(_) => 8192,
            Effort::High => 24_576,
            Effort::XHigh => 32_768,
        }
    }

    /// The effort closest to a thinking budget, for OpenAI providers.
    pub fn for_budget(budget: u32) -> Effort {
        match budget {
            0 => Effort::None,
            1..=2048 => Effort::Low,
            2049..=12_288 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

/// Token counts in every class. `input` counts all input tokens, cached ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the provider's prompt cache (part of `input`).
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (part of `input`).
    pub cache_creation: u64,
    /// Output tokens spent on reasoning (part of `output`).
    pub reasoning: u64,
    /// Counted by Sluice because the provider reported none.
    pub estimated: bool,
}

impl Usage {
    /// The token classes as the metrics name them.
    pub fn classes(&self) -> [(&'static str, u64); 5] {
        [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_creation", self.cache_creation),
            ("reasoning", self.reasoning),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
    /// A reason with no equivalent, kept as the provider said it.
    Other(String),
}

impl StopReason {
    /// The reason as OpenAI's `finish_reason` names it (`stop`, `length`, `tool_calls`,
    /// `content_filter`): what logs and traces report (`gen_ai.response.finish_reasons`).
    pub fn finish_reason(&self) -> &str {
        match self {
            StopReason::EndTurn | StopReason::StopSequence => "stop",
            StopReason::MaxTokens => "length",
            StopReason::ToolUse => "tool_calls",
            StopReason::ContentFilter => "content_filter",
            StopReason::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    pub parts: Vec<Part>,
    pub stop: Option<StopReason>,
    pub usage: Option<Usage>,
}

/// One step of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta(String),
    ThinkingDelta(String),
    SignatureDelta(String),
    /// A tool call begins; `index` counts tool calls from 0.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: usize,
        arguments: String,
    },
    Stop(StopReason),
    Usage(Usage),
    /// The provider reported an error mid-stream, or the stream broke.
    Error {
        kind: super::errors::ErrorKind,
        message: String,
    },
    End,
}
