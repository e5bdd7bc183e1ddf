//! Chat requests (OpenAI chat completions, OpenAI Responses and Anthropic messages): pick the
//! backend by model, then providers in failover order, and answer in the client's format.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::Value;

use super::canonical::{ChatRequest, Usage};
use super::errors::AiError;
use super::frontdoor::ClientFormat;
use super::providers::vertex::{self as vertex_p, Publisher};
use super::providers::{
    self, anthropic as anthropic_p, azure_openai as azure_p, bedrock as bedrock_p, gemini as gemini_p, mock,
    openai as openai_p,
};
use super::stream::{self, Decode, Encode};
use super::wire::{
    anthropic, anthropic_stream, bedrock, bedrock_stream, gemini, gemini_stream, openai_chat, openai_responses,
    openai_responses_stream, openai_stream,
};
use super::{Ctx, failover};
use crate::httpkit::body::{self, ProxyBody};
use crate::ir::ai::{AiBackendIr, AiProviderIr, WireFormat};

pub struct ParsedChat {
    pub format: ClientFormat,
    pub raw: Value,
    /// Shared so that a usage estimate can be made after the answer, only when needed.
    pub req: Arc<ChatRequest>,
}

pub fn parse(format: ClientFormat, bytes: &[u8]) -> Result<ParsedChat, AiError> {
    let raw: Value = serde_json::from_slice(bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if !raw.is_object() {
        return Err(AiError::invalid("the request body must be a JSON object"));
    }
    let req = match format {
        ClientFormat::OpenAi => openai_chat::parse_request(&raw)?,
        ClientFormat::Anthropic => anthropic::parse_request(&raw)?,
        ClientFormat::Responses => openai_responses::parse_request(&raw)?,
    };
    if req.model.is_empty() {
        return Err(match format {
            ClientFormat::OpenAi | ClientFormat::Responses => {
                AiError::invalid_param("model", "you must provide a model parameter")
            }
            ClientFormat::Anthropic => AiError::invalid_param("model", "model: Field required"),
        });
    }
    Ok(ParsedChat { format, raw, req: Arc::new(req) })
}

/// The backend that serves the requested model, and the model name it should get.
pub fn pick_backend<'b>(
    backends: &'b [Arc<AiBackendIr>],
    model: &str,
) -> Result<(&'b Arc<AiBackendIr>, String), AiError> {
    backends.iter().find_map(|b| b.serves(model).map(|m| (b, m))).ok_or_else(|| {
        AiError::not_found(format!("The model `{model}` does not exist or you do not have access to it."))
    })
}

pub async fn serve(ctx: &Ctx<'_>, parsed: ParsedChat) -> Result<Response<ProxyBody>, AiError> {
    let (backend, model) = pick_backend(ctx.backends, &parsed.req.model)?;
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    failover::run(ctx, backend, |p| attempt(ctx, p, &parsed, &model, created)).await
}

fn provider_model(p: &AiProviderIr, requested: &str) -> String {
    let model = match (&p.model, p.force_model) {
        (Some(m), true) => m.clone(),
        _ => requested.to_string(),
    };
    match p.kind {
        WireFormat::AzureOpenAi => azure_p::model(p, &model),
        WireFormat::OpenAi
        | WireFormat::Anthropic
        | WireFormat::Gemini
        | WireFormat::Vertex
        | WireFormat::Bedrock
        | WireFormat::Mock => model,
    }
}

/// The provider's path and body for a chat request.
fn upstream_request(
    p: &AiProviderIr,
    parsed: &ParsedChat,
    model: &str,
    same: bool,
) -> Result<(String, Value), AiError> {
    let req = &parsed.req;
    // Same format: the client's body goes through, unknown fields included, but for the model.
    let raw = || {
        let mut raw = parsed.raw.clone();
        raw["model"] = Value::String(model.to_string());
        raw
    };
    Ok(match p.kind {
        WireFormat::OpenAi | WireFormat::AzureOpenAi => {
            let body = if same {
                let mut raw = raw();
                if req.stream {
                    raw["stream_options"]["include_usage"] = Value::Bool(true);
                }
                raw
            } else {
                openai_chat::build_request(req, model)
            };
            let path = p.chat_path.as_deref().unwrap_or(openai_p::CHAT_PATH);
            let path = if p.kind == WireFormat::AzureOpenAi { azure_p::path(p, path) } else { path.to_string() };
            (path, body)
        }
        WireFormat::Anthropic => {
            let body = if same { raw() } else { anthropic::build_request(req, model) };
            (p.chat_path.as_deref().unwrap_or(anthropic_p::MESSAGES_PATH).to_string(), body)
        }
        WireFormat::Gemini => {
            let template = if req.stream { p.stream_path.as_deref() } else { p.chat_path.as_deref() };
            (gemini_p::path(template, model, req.stream), gemini::build_request(req))
        }
        WireFormat::Vertex => {
            let body = match vertex_p::publisher(model) {
                Publisher::Google => gemini::build_request(req),
                Publisher::Anthropic if same => vertex_p::anthropic_body(raw()),
                Publisher::Anthropic => vertex_p::anthropic_body(anthropic::build_request(req, model)),
            };
            (vertex_p::path(model, req.stream), body)
        }
        WireFormat::Bedrock => {
            let template = if req.stream { p.stream_path.as_deref() } else { p.chat_path.as_deref() };
            (bedrock_p::path(template, model, req.stream), bedrock::build_request(req, model)?)
        }
        WireFormat::Mock => unreachable_mock()?,
    })
}

/// The client's format and the provider's are the same: bodies and events pass through.
fn same_format(format: ClientFormat, p: &AiProviderIr, model: &str) -> bool {
    match (format, p.kind) {
        (ClientFormat::OpenAi, WireFormat::OpenAi | WireFormat::AzureOpenAi)
        | (ClientFormat::Anthropic, WireFormat::Anthropic) => true,
        (ClientFormat::Anthropic, WireFormat::Vertex) => vertex_p::publisher(model) == Publisher::Anthropic,
        // Responses requests are always translated, to OpenAI providers too.
        (ClientFormat::Responses, _) => false,
        (
            ClientFormat::OpenAi,
            WireFormat::Anthropic | WireFormat::Gemini | WireFormat::Vertex | WireFormat::Bedrock | WireFormat::Mock,
        )
        | (
            ClientFormat::Anthropic,
            WireFormat::OpenAi | WireFormat::AzureOpenAi | WireFormat::Gemini | WireFormat::Bedrock | WireFormat::Mock,
        ) => false,
    }
}

/// Bedrock's request id, the only id its answers have.
fn request_id(headers: &HeaderMap) -> String {
    headers.get("x-amzn-requestid").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn attempt(
    ctx: &Ctx<'_>,
    p: Arc<AiProviderIr>,
    parsed: &ParsedChat,
    model: &str,
    created: u64,
) -> Result<Response<ProxyBody>, AiError> {
    let model = provider_model(&p, model);
    let req = &parsed.req;
    let metrics = ctx.pipe.metrics.clone();
    let provider_id = p.id.clone();
    let usage_model = model.clone();
    let catalog_name = p.catalog.clone();
    let for_estimate = Arc::clone(&parsed.req);
    let on_done: stream::OnDone = Box::new(move |u: Option<Usage>, text: &str| {
        // The provider's figures are the truth; without them, count (only then) and say so.
        let u = u.or_else(|| {
            Some(Usage {
                input: super::tokens::estimate_prompt(&for_estimate),
                output: super::tokens::estimate_text(&usage_model, text),
                estimated: true,
                ..Usage::default()
            })
        });
        if let Some(u) = u {
            metrics.record_ai_usage(&provider_id, &usage_model, &u.classes(), u.estimated);
            if let Some(usd) = cost(&catalog_name, &usage_model, &u) {
                metrics.record_ai_cost(&provider_id, &usage_model, usd);
            }
        }
    });
    let encoder = |format: ClientFormat| match format {
        ClientFormat::OpenAi => Encode::OpenAi(openai_stream::Encoder::new(&model, created, req.stream_usage)),
        ClientFormat::Anthropic => Encode::Anthropic(anthropic_stream::Encoder::new(&model)),
        ClientFormat::Responses => {
            Encode::Responses(Box::new(openai_responses_stream::Encoder::new(&model, created, &parsed.raw)))
        }
    };
    if p.kind == WireFormat::Mock {
        if req.stream {
            let events = mock::stream_events(req, &model, &p.mock);
            return Ok(sse_response(stream::from_events(events, encoder(parsed.format), p.mock.interval, on_done)));
        }
        let r = mock::respond(req, &model, &p.mock);
        on_done(r.usage, "");
        return Ok(json_response(render(parsed, &r, created)));
    }
    let same = same_format(parsed.format, &p, &model);
    let (path, body) = upstream_request(&p, parsed, &model, same)?;
    let bytes = Bytes::from(body.to_string());
    let resp = providers::call(ctx.pipe, &p, Method::POST, &path, bytes, ctx.headers, parsed.format).await?;
    if req.stream {
        let decode = match p.kind {
            WireFormat::OpenAi | WireFormat::AzureOpenAi => Decode::OpenAi(openai_stream::Decoder::default()),
            WireFormat::Anthropic => Decode::Anthropic(anthropic_stream::Decoder::default()),
            WireFormat::Gemini => Decode::Gemini(gemini_stream::Decoder::default()),
            WireFormat::Vertex => match vertex_p::publisher(&model) {
                Publisher::Google => Decode::Gemini(gemini_stream::Decoder::default()),
                Publisher::Anthropic => Decode::Anthropic(anthropic_stream::Decoder::default()),
            },
            WireFormat::Bedrock => Decode::Bedrock(bedrock_stream::Decoder::new(request_id(resp.headers()))),
            WireFormat::Mock => unreachable_mock()?,
        };
        let encode = match (same, parsed.format) {
            (true, ClientFormat::OpenAi) => Encode::PassOpenAi { include_usage: req.stream_usage },
            (true, ClientFormat::Anthropic) => Encode::PassAnthropic,
            // Never same-format: Responses requests are translated, to OpenAI providers too.
            (true, ClientFormat::Responses) => encoder(ClientFormat::Responses),
            (false, f) => encoder(f),
        };
        // The first-party APIs always report usage in streams (OpenAI because Sluice asks for it);
        // self-hosted OpenAI-compatible servers may not.
        let keep_text = p.kind == WireFormat::OpenAi && p.catalog != "openai";
        return Ok(sse_response(stream::translate(resp.into_body(), decode, encode, on_done, keep_text)));
    }
    let response_id = request_id(resp.headers());
    let bytes = providers::read_limited(resp.into_body(), providers::MAX_RESPONSE).await?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::upstream(format!("provider {} sent invalid JSON: {e}", p.id)))?;
    let mut parsed_resp = match p.kind {
        WireFormat::OpenAi | WireFormat::AzureOpenAi => openai_chat::parse_response(&json)?,
        WireFormat::Anthropic => anthropic::parse_response(&json)?,
        WireFormat::Gemini => gemini::parse_response(&json)?,
        WireFormat::Vertex => match vertex_p::publisher(&model) {
            Publisher::Google => gemini::parse_response(&json)?,
            Publisher::Anthropic => anthropic::parse_response(&json)?,
        },
        WireFormat::Bedrock => bedrock::parse_response(&json)?,
        WireFormat::Mock => unreachable_mock()?,
    };
    if parsed_resp.id.is_empty() {
        parsed_resp.id = response_id;
    }
    if parsed_resp.model.is_empty() {
        parsed_resp.model = model.clone();
    }
    let text: String = parsed_resp
        .parts
        .iter()
        .filter_map(|p| match p {
            super::canonical::Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    on_done(parsed_resp.usage, &text);
    if same {
        // Same format: the provider's answer goes through untouched (the very bytes), unknown
        // fields included.
        let mut resp = Response::new(body::full(bytes));
        resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(resp);
    }
    Ok(json_response(render(parsed, &parsed_resp, created)))
}

fn unreachable_mock<T>() -> Result<T, AiError> {
    Err(AiError::internal("the mock provider has no HTTP endpoint"))
}

fn render(parsed: &ParsedChat, r: &super::canonical::ChatResponse, created: u64) -> Value {
    match parsed.format {
        ClientFormat::OpenAi => openai_chat::render_response(r, created),
        ClientFormat::Anthropic => anthropic::render_response(r),
        ClientFormat::Responses => openai_responses::render_response(r, created, &parsed.raw),
    }
}

pub fn json_response(v: Value) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(v.to_string()));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn sse_response(b: ProxyBody) -> Response<ProxyBody> {
    let mut resp = Response::new(b);
    *resp.status_mut() = StatusCode::OK;
    let h: &mut HeaderMap = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The request's cost from the catalog's prices, when the model has them.
pub fn cost(provider: &str, model: &str, u: &Usage) -> Option<f64> {
    let pricing = crate::catalog::catalog().provider(provider)?.pricing(model)?;
    Some(pricing.cost_usd(&crate::catalog::TokenCounts {
        input: u.input.saturating_sub(u.cache_read + u.cache_creation),
        cached_input: u.cache_read,
        cache_write_input: u.cache_creation,
        output: u.output,
    }))
}
