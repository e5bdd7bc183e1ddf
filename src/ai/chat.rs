//! Chat requests (OpenAI chat completions, OpenAI Responses, Anthropic messages and Gemini
//! `generateContent`): pick the
//! backend by model, then providers in failover order, and answer in the client's format.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::Value;

use super::canonical::{ChatRequest, ChatResponse, StopReason, StreamEvent, Usage};
use super::errors::AiError;
use super::frontdoor::{ClientFormat, GeminiMethod};
use super::providers::{self, mock};
use super::stream::{self, Encode};
use super::telemetry::{self, CallReport};
use super::wire::{
    anthropic, anthropic_stream, gemini_client, gemini_client_stream, openai_chat, openai_responses,
    openai_responses_stream, openai_stream,
};
use super::{Ctx, failover, guards_remote};
use crate::httpkit::body::{self, ProxyBody};
use crate::ir::ai::{AiBackendIr, AiProviderIr};
use crate::ir::policy::GuardIr;
use crate::policy::budgets::Spend;
use crate::policy::guards::Rejection;
use crate::policy::limits::{Reservation, TokenAsk};

pub struct ParsedChat {
    pub format: ClientFormat,
    /// The client's body as a tree, when it was read as one (see [`ParsedChat::raw`]).
    raw: Option<Value>,
    /// The client's body as sent (chat completions and messages): a same-format request
    /// goes on as these bytes, edited where it must be.
    sent: Option<Bytes>,
    /// Shared so that a usage estimate can be made after the answer, only when needed.
    pub req: Arc<ChatRequest>,
    /// The client's query string (Claude Code's `?beta=true`): passed on to a provider of the
    /// client's own format, dropped across formats.
    pub query: Option<String>,
    /// Guards masked something in the request: it is always translated (the client's own
    /// body is never sent as it came).
    pub guarded: bool,
    /// A Gemini stream asked without `alt=sse`: written as one JSON array, not as events.
    pub array_stream: bool,
    /// A Responses request to store (or continuing a stored one).
    pub storing: Option<Arc<super::stored::Storing>>,
}

impl ParsedChat {
    fn new(format: ClientFormat, req: ChatRequest, (raw, sent): (Option<Value>, Option<Bytes>)) -> ParsedChat {
        ParsedChat {
            format,
            raw,
            sent,
            req: Arc::new(req),
            query: None,
            guarded: false,
            array_stream: false,
            storing: None,
        }
    }

    /// The client's body as a tree: read again from its bytes when the request was parsed
    /// without one (a chat completion, whose tree only a translated answer needs).
    pub fn raw(&self) -> std::borrow::Cow<'_, Value> {
        match (&self.raw, &self.sent) {
            (Some(v), _) => std::borrow::Cow::Borrowed(v),
            (None, Some(b)) => std::borrow::Cow::Owned(serde_json::from_slice(b).unwrap_or_default()),
            (None, None) => std::borrow::Cow::Owned(Value::Null),
        }
    }

    /// The body to answer from (a Responses request's own, not the stored conversation
    /// it was parsed with).
    pub fn set_raw(&mut self, raw: Value) {
        (self.raw, self.sent) = (Some(raw), None);
    }

    /// The client's own body for `model`, with its top-level members `also` set too (JSON
    /// texts): same-format requests go through as sent, unknown fields, order and spacing
    /// included.
    pub fn sent_for(&self, model: &str, also: &[(&str, &[u8])]) -> Bytes {
        let model = serde_json::to_vec(model).unwrap_or_default();
        let set: Vec<(&str, &[u8])> = std::iter::once(("model", &model[..])).chain(also.iter().copied()).collect();
        if let Some(out) = self.sent.as_deref().and_then(|b| super::wire::splice::set_members(b, &set)) {
            return Bytes::from(out);
        }
        let mut raw = self.raw().into_owned();
        for (k, v) in set {
            raw[k] = serde_json::from_slice(v).unwrap_or_default();
        }
        Bytes::from(raw.to_string())
    }

    /// The client's own body for `model`, as a tree (a provider that wraps it further).
    pub fn raw_with_model(&self, model: &str) -> Value {
        let mut raw = self.raw().into_owned();
        raw["model"] = Value::String(model.to_string());
        raw
    }

    /// The client's own top-level member `key`, as sent.
    pub fn sent_member(&self, key: &str) -> Option<Value> {
        match self.sent.as_deref() {
            Some(b) => super::wire::splice::member(b, key).and_then(|v| serde_json::from_slice(v).ok()),
            None => self.raw().get(key).cloned(),
        }
    }
}

/// A request body that must be a JSON object.
pub fn json_object(bytes: &[u8]) -> Result<Value, AiError> {
    let raw: Value = serde_json::from_slice(bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if !raw.is_object() {
        return Err(AiError::invalid("the request body must be a JSON object"));
    }
    Ok(raw)
}

pub fn parse(format: ClientFormat, bytes: Bytes, query: Option<&str>) -> Result<ParsedChat, AiError> {
    // A chat completion is read straight into its typed request; a body serde refuses is
    // read again as a tree below, for an error that names the field.
    let direct = (format == ClientFormat::OpenAi).then(|| openai_chat::parse_request_bytes(&bytes)).flatten();
    let mut parsed = match direct {
        Some(req) => checked(format, ParsedChat::new(format, req?, (None, Some(bytes)))),
        None => {
            let mut p = parse_value(format, json_object(&bytes)?, query)?;
            p.sent = matches!(format, ClientFormat::OpenAi | ClientFormat::Anthropic).then_some(bytes);
            Ok(p)
        }
    }?;
    parsed.query = query.map(str::to_string);
    Ok(parsed)
}

/// [`parse`] of a body already read as a JSON object.
pub fn parse_value(format: ClientFormat, raw: Value, query: Option<&str>) -> Result<ParsedChat, AiError> {
    let req = match format {
        ClientFormat::OpenAi => openai_chat::parse_request(&raw)?,
        ClientFormat::Anthropic => anthropic::parse_request(&raw)?,
        ClientFormat::Responses => openai_responses::parse_request(&raw)?,
        ClientFormat::Gemini => return Err(AiError::internal("a Gemini request is read with parse_gemini")),
    };
    let mut parsed = checked(format, ParsedChat::new(format, req, (Some(raw), None)))?;
    parsed.query = query.map(str::to_string);
    Ok(parsed)
}

/// A parsed request that names a model.
fn checked(format: ClientFormat, parsed: ParsedChat) -> Result<ParsedChat, AiError> {
    if !parsed.req.model.is_empty() {
        return Ok(parsed);
    }
    Err(match format {
        ClientFormat::OpenAi | ClientFormat::Responses => {
            AiError::invalid_param("model", "you must provide a model parameter")
        }
        ClientFormat::Anthropic => AiError::invalid_param("model", "model: Field required"),
        ClientFormat::Gemini => AiError::invalid_param("model", "the model is missing from the path"),
    })
}

/// A Gemini `generateContent` body; the model and the kind of stream come from the path.
pub fn parse_gemini(bytes: &[u8], model: &str, method: GeminiMethod) -> Result<ParsedChat, AiError> {
    let raw: Value =
        serde_json::from_slice(bytes).map_err(|e| AiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    if !raw.is_object() {
        return Err(AiError::invalid(
            "Invalid JSON payload received: the body must be a GenerateContentRequest object",
        ));
    }
    let (stream, array_stream) = match method {
        GeminiMethod::Stream { sse } => (true, !sse),
        _ => (false, false),
    };
    let req = gemini_client::parse_request(&raw, model, stream)?;
    let mut parsed = ParsedChat::new(ClientFormat::Gemini, req, (Some(raw), None));
    parsed.array_stream = array_stream;
    Ok(parsed)
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

pub async fn serve(ctx: &Ctx<'_>, mut parsed: ParsedChat) -> Result<Response<ProxyBody>, AiError> {
    if let Some(s) = ctx.shaping() {
        parsed.req = Arc::new(super::shaping::shape(s, &parsed.req));
        parsed.guarded = true;
    }
    if let Some(guards) = ctx.guards() {
        // Detectors first, then the services; each masks the prompt the previous one left.
        let fired = super::guards::guard_request(guards, &mut parsed.req).map_err(|r| refused(ctx, &r))?;
        note_masked(ctx, &mut parsed, &fired);
        if guards_remote::reads_prompts(guards) {
            // Boxed here and below: a guard service call's state is large, and requests without
            // one need not carry it.
            let masked =
                Box::pin(guards_remote::check_prompt(ctx, guards, &parsed.req)).await.map_err(|r| refused(ctx, &r))?;
            if let Some((req, fired)) = masked {
                parsed.req = Arc::new(req);
                note_masked(ctx, &mut parsed, &fired);
            }
        }
    }
    // The prompt is counted (the tokenizer is not free) only for token limits.
    let ask = ctx.has_token_limits().then(|| TokenAsk {
        input: super::tokens::estimate_prompt(&parsed.req),
        max_output: parsed.req.max_tokens.map(u64::from),
    });
    // Budgets first: a spent budget refuses before any rate limit is taken.
    let spend = Arc::new(ctx.check_budgets()?);
    let admission = ctx.admit_model(&parsed.req.model, ask).await?;
    let (backend, model) = pick_backend(ctx.backends, &parsed.req.model)?;
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Token reservations are settled once, with the usage of the answer that is given (or
    // given back in full when no provider answers).
    let reservations = Arc::new(std::sync::Mutex::new(Some(admission.reservations)));
    let asked = (&*parsed.req.model, parsed.req.stream);
    let report = CallReport::new(ctx, telemetry::operation(parsed.format), asked, Some(&parsed.req));
    let result = failover::run(ctx, backend, |p| {
        let settles = (reservations.clone(), spend.clone(), report.clone());
        attempt(ctx, p, &parsed, &model, created, settles, backend.stream_idle_timeout)
    })
    .await;
    if result.is_err() {
        settle(&reservations, 0, 0);
    }
    let resp = super::with_headers(super::with_limit_headers(result?, &admission.headers), &spend.headers);
    Ok(report.watch(resp, ctx.pipe.metrics.clone()))
}

type Reservations = Arc<std::sync::Mutex<Option<Vec<Reservation>>>>;

fn settle(reservations: &Reservations, input: u64, output: u64) {
    let taken = reservations.lock().unwrap_or_else(|p| p.into_inner()).take();
    for r in taken.into_iter().flatten() {
        r.settle(input, output);
    }
}

fn provider_model(p: &AiProviderIr, requested: &str) -> String {
    let model = match (&p.model, p.force_model) {
        (Some(m), true) => m.clone(),
        _ => requested.to_string(),
    };
    providers::of(p.kind).model(p, model)
}

async fn attempt(
    ctx: &Ctx<'_>,
    p: Arc<AiProviderIr>,
    parsed: &ParsedChat,
    model: &str,
    created: u64,
    (reservations, spend, report): (Reservations, Arc<Spend>, Arc<CallReport>),
    idle: Option<Duration>,
) -> Result<Response<ProxyBody>, AiError> {
    let store = ctx.pipe.policy.store.clone();
    let model = provider_model(&p, model);
    let req = &parsed.req;
    let metrics = ctx.pipe.metrics.clone();
    let usage_model = model.clone();
    let for_estimate = Arc::clone(&parsed.req);
    let (answered_by, model_label) = (p.clone(), telemetry::model_label(ctx.backends, &model));
    let to_report = report.clone();
    let on_done: stream::OnDone = Box::new(move |u: Option<Usage>, text: &str, stop: Option<&StopReason>| {
        // The provider's figures are the truth; without them, count (only then) and say so.
        let u = u.or_else(|| {
            Some(Usage {
                input: super::tokens::estimate_prompt(&for_estimate),
                output: super::tokens::estimate_text(&usage_model, text),
                estimated: true,
                ..Usage::default()
            })
        });
        let mut cost_usd = None;
        if let Some(u) = u {
            settle(&reservations, u.input, u.output);
            cost_usd = account(&metrics, (&*store, &spend), &answered_by, (&model_label, &usage_model), &u);
        }
        let finish_reason = stop.map(|r| r.finish_reason().to_string());
        let served = telemetry::Served { model_label, model: usage_model, usage: u, cost_usd, finish_reason };
        to_report.served(&answered_by, served);
    });
    let encoder = |format: ClientFormat| match format {
        ClientFormat::OpenAi => Encode::OpenAi(openai_stream::Encoder::new(&model, created, req.stream_usage)),
        ClientFormat::Anthropic => Encode::Anthropic(anthropic_stream::Encoder::new(&model)),
        ClientFormat::Responses => {
            let e = openai_responses_stream::Encoder::new(&model, created, &parsed.raw());
            Encode::Responses(Box::new(match parsed.storing.as_ref().and_then(|s| s.id.as_ref().map(|id| (s, id))) {
                Some((s, id)) => {
                    let (docs, s) = (ctx.pipe.responses.clone(), s.clone());
                    e.stored(id, Box::new(move |response| super::stored::keep_later(docs, s, response)))
                }
                None => e,
            }))
        }
        ClientFormat::Gemini => Encode::Gemini(gemini_client_stream::Encoder::new(&model, !parsed.array_stream)),
    };
    let provider = providers::of(p.kind);
    let output_guards = ctx.guards().filter(|g| g.iter().any(|g| g.scope.output));
    // A remote guard decides on whole texts: a streamed answer is held until it has.
    let held = output_guards.is_some_and(|g| guards_remote::reads_answers(g));
    if provider.local() {
        if req.stream {
            let events = mock::stream_events(req, &model, &p.mock);
            let events = guard_events(ctx, output_guards, events).await?;
            return Ok(stream_response(
                parsed,
                stream::from_events(events, encoder(parsed.format), p.mock.interval, on_done),
            ));
        }
        let mut r = mock::respond(req, &model, &p.mock);
        on_done(r.usage, "", r.stop.as_ref());
        if let Some(g) = output_guards {
            guard_answer(ctx, g, &mut r).await?;
        }
        return Ok(answer(ctx, parsed, &r, created).await);
    }
    let same = !parsed.guarded && provider.same_format(parsed.format, &model);
    // With output guards the answer is always rendered from the canonical model, masked.
    let pass_output = same && output_guards.is_none();
    // Thinking sent back without its signature is signed again where Sluice remembers what
    // this kind of provider issued (translated requests: same-format ones go through as sent).
    if !same {
        ctx.pipe.signatures.fetch(p.kind, &parsed.req).await;
    }
    let restored = match same {
        false => ctx.pipe.signatures.restore(p.kind, &parsed.req).map(|req| ParsedChat {
            format: parsed.format,
            raw: parsed.raw.clone(),
            sent: parsed.sent.clone(),
            req: Arc::new(req),
            query: parsed.query.clone(),
            guarded: parsed.guarded,
            array_stream: parsed.array_stream,
            storing: parsed.storing.clone(),
        }),
        true => None,
    };
    let parsed = restored.as_ref().unwrap_or(parsed);
    let (path, bytes) = provider.chat_request(&p, parsed, &model, same)?;
    let traced = report.traced_headers(ctx.headers);
    let headers = traced.as_ref().unwrap_or(ctx.headers);
    let sent = std::time::Instant::now();
    let resp = providers::call(ctx.pipe, &p, Method::POST, &path, bytes, headers, parsed.format)
        .await
        .inspect_err(|e| report.attempt_failed(&p.id, e.status))?;
    report.attempt_answered(sent);
    if req.stream && held {
        let decode = provider.stream_decoder(&model, resp.headers());
        let events = stream::collect(stream::upstream_of(resp.into_body(), idle), decode, MAX_HELD)
            .await
            .map_err(AiError::upstream)?;
        let events = guard_events(ctx, output_guards, events).await?;
        return Ok(stream_response(
            parsed,
            stream::from_events(events, encoder(parsed.format), Duration::ZERO, on_done),
        ));
    }
    if req.stream {
        let decode = provider.stream_decoder(&model, resp.headers());
        let encode = match (pass_output, parsed.format) {
            (true, ClientFormat::OpenAi) => Encode::PassOpenAi { include_usage: req.stream_usage },
            (true, ClientFormat::Anthropic) => Encode::PassAnthropic,
            // Never same-format: Responses requests are translated, to OpenAI providers too.
            (true, ClientFormat::Responses) => encoder(ClientFormat::Responses),
            // The provider streams events; a client that asked for an array gets one written.
            (true, ClientFormat::Gemini) if parsed.array_stream => encoder(ClientFormat::Gemini),
            (true, ClientFormat::Gemini) => Encode::PassGemini,
            (false, f) => encoder(f),
        };
        let notes = stream::Notes {
            keep_text: !provider.streams_report_usage(&p),
            signatures: Some((ctx.pipe.signatures.clone(), p.kind)),
            guard: output_guards.and_then(super::guards::StreamGuard::new),
        };
        return Ok(stream_response(
            parsed,
            stream::translate(stream::upstream_of(resp.into_body(), idle), decode, encode, on_done, notes),
        ));
    }
    let response_id = providers::bedrock::request_id(resp.headers());
    let bytes = providers::read_limited(resp.into_body(), providers::MAX_RESPONSE).await?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::upstream(format!("provider {} sent invalid JSON: {e}", p.id)))?;
    let mut parsed_resp = provider.parse_response(&model, &json)?;
    ctx.pipe.signatures.remember_parts(p.kind, &parsed_resp.parts);
    let mut masked = false;
    if let Some(g) = output_guards {
        masked = guard_answer(ctx, g, &mut parsed_resp).await?;
    }
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
    on_done(parsed_resp.usage, &text, parsed_resp.stop.as_ref());
    if same && !masked {
        // Same format, nothing masked (the guards read the decoded texts): the provider's
        // answer goes through untouched (the very bytes), unknown fields included.
        let mut resp = Response::new(body::full(bytes));
        resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(resp);
    }
    Ok(answer(ctx, parsed, &parsed_resp, created).await)
}

/// A whole answer in the client's format (kept first, when it is a stored response).
async fn answer(ctx: &Ctx<'_>, parsed: &ParsedChat, r: &ChatResponse, created: u64) -> Response<ProxyBody> {
    let Some((storing, id)) = parsed.storing.as_ref().and_then(|s| s.id.as_ref().map(|id| (s, id))) else {
        return json_response(render(parsed, r, created));
    };
    let r = ChatResponse { id: id.clone(), ..r.clone() };
    let v = render(parsed, &r, created);
    super::stored::keep(&*ctx.pipe.responses, storing, &v).await;
    json_response(v)
}

/// The most of a streamed answer held for remote guards.
const MAX_HELD: usize = 8 << 20;

/// A whole answer through the output guards (detectors, then remote ones); whether one masked.
async fn guard_answer(ctx: &Ctx<'_>, guards: &[GuardIr], r: &mut ChatResponse) -> Result<bool, AiError> {
    let mut fired = super::guards::guard_response(guards, r).map_err(|e| refused(ctx, &e))?;
    if guards_remote::reads_answers(guards) {
        fired.extend(Box::pin(guards_remote::check_answer(ctx, guards, r)).await.map_err(|e| refused(ctx, &e))?);
    }
    fired.iter().for_each(|g| ctx.pipe.metrics.record_guard(g, "mask"));
    Ok(!fired.is_empty())
}

/// A stream known whole (the mock's, or a held one) through the output guards: the detectors
/// event by event, then remote guards on whole channels.
async fn guard_events(
    ctx: &Ctx<'_>,
    guards: Option<&Arc<[GuardIr]>>,
    events: Vec<StreamEvent>,
) -> Result<Vec<StreamEvent>, AiError> {
    let Some(guards) = guards else { return Ok(events) };
    let (mut out, mut fired) = (Vec::with_capacity(events.len()), Vec::new());
    match super::guards::StreamGuard::new(guards) {
        Some(mut g) => {
            for ev in events {
                let mut one = vec![ev];
                g.apply(&mut one);
                out.extend(one);
            }
            out.extend(g.finish());
            fired.append(&mut g.fired);
        }
        None => out = events,
    }
    if guards_remote::reads_answers(guards) {
        out =
            Box::pin(guards_remote::check_events(ctx, guards, out, &mut fired)).await.map_err(|e| refused(ctx, &e))?;
    }
    fired.iter().for_each(|g| ctx.pipe.metrics.record_guard(g, "mask"));
    Ok(out)
}

/// A prompt the guards masked: counted, and always translated (never passed through as sent).
fn note_masked(ctx: &Ctx<'_>, parsed: &mut ParsedChat, fired: &[String]) {
    if !fired.is_empty() {
        fired.iter().for_each(|g| ctx.pipe.metrics.record_guard(g, "mask"));
        parsed.guarded = true;
    }
}

/// A guard's refusal, counted, in the client's format.
fn refused(ctx: &Ctx<'_>, r: &Rejection) -> AiError {
    ctx.pipe.metrics.record_guard(&r.guard, "reject");
    super::guards::rejected(r)
}

fn render(parsed: &ParsedChat, r: &super::canonical::ChatResponse, created: u64) -> Value {
    match parsed.format {
        ClientFormat::OpenAi => openai_chat::render_response(r, created),
        ClientFormat::Anthropic => anthropic::render_response(r),
        ClientFormat::Responses => openai_responses::render_response(r, created, &parsed.raw()),
        ClientFormat::Gemini => gemini_client::render_response(r, &parsed.req.model),
    }
}

pub fn json_response(v: Value) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(v.to_string()));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A JSON answer whose figures are Sluice's estimate, saying so in `x-sluice-token-estimate`.
pub fn estimated_response(v: Value) -> Response<ProxyBody> {
    let mut resp = json_response(v);
    resp.headers_mut().insert("x-sluice-token-estimate", HeaderValue::from_static("true"));
    resp
}

/// A provider's answer passed on to the client as it comes.
pub fn passed_on(resp: Response<hyper::body::Incoming>) -> Response<ProxyBody> {
    let (parts, b) = resp.into_parts();
    Response::from_parts(parts, body::from_incoming(b))
}

/// A streamed answer: server-sent events, or one JSON array written as it grows (a Gemini
/// stream asked without `alt=sse`).
fn stream_response(parsed: &ParsedChat, b: ProxyBody) -> Response<ProxyBody> {
    let mut resp = Response::new(b);
    *resp.status_mut() = StatusCode::OK;
    let h: &mut HeaderMap = resp.headers_mut();
    let kind = if parsed.array_stream { "application/json" } else { "text/event-stream" };
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// An answer's usage accounted: tokens and cost by provider and model, and the cost against
/// the request's budgets. The cost, when the catalog prices the model.
pub fn account(
    metrics: &crate::metrics::Metrics,
    (store, spend): (&dyn crate::store::Store, &Spend),
    p: &AiProviderIr,
    (label, model): (&str, &str),
    u: &Usage,
) -> Option<f64> {
    metrics.record_ai_usage(&p.id, label, &u.classes(), u.estimated);
    let usd = cost(&p.catalog, model, u)?;
    metrics.record_ai_cost(&p.id, label, usd);
    spend.record(store, usd);
    Some(usd)
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
