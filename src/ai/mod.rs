//! The AI pipeline: OpenAI-, Anthropic- and Gemini-compatible front doors in front of many
//! providers.
//! It reads the IR only; what outlives a reload (provider health, Vertex access tokens) is
//! owned by [`AiPipeline`], outside the snapshot.

pub mod canonical;
mod chat;
mod embeddings;
pub mod errors;
pub mod eventstream;
mod failover;
pub mod frontdoor;
mod gemini_door;
pub mod guards;
pub mod guards_remote;
mod pretokenize;
pub mod providers;
pub mod shaping;
pub mod signatures;
pub mod state;
mod stored;
pub mod stream;
mod telemetry;
mod token_memo;
pub mod tokens;
pub mod wire;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Response};
use hyper::body::Incoming;
use serde_json::{Value, json};

use self::errors::AiError;
use self::frontdoor::{ClientFormat, FrontDoor};
use crate::httpkit::body::ProxyBody;
use crate::ir::ai::AiBackendIr;
use crate::ir::policy::PolicyIr;
use crate::metrics::Metrics;
use crate::policy::authz;
use crate::policy::limits::{Admission, RateHeaders, Stage, Subject, TokenAsk};
use crate::policy::{Admitted, Denial, Peer, PolicyLayer};
use crate::proxy::pipeline::{BoxFuture, Handoff, Pipeline};
use crate::proxy::upstream::Pools;

/// Largest request body the AI path reads.
pub const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

/// The AI pipeline and the state it keeps across reloads.
pub struct AiPipeline {
    pub pools: Arc<Pools>,
    pub metrics: Arc<Metrics>,
    /// Provider health (failures, ejection).
    pub health: state::AiState,
    /// Vertex AI access tokens, per service-account key.
    pub tokens: providers::vertex::Tokens,
    /// Thinking signatures providers issued, to sign thinking that clients send back bare.
    pub signatures: Arc<signatures::Signatures>,
    /// The policy layer (rate limiters), shared with the proxy.
    pub policy: Arc<PolicyLayer>,
    /// Stored Responses (`store: true`), kept across restarts.
    pub responses: Arc<dyn crate::store::documents::Documents>,
}

impl AiPipeline {
    pub fn new(
        pools: Arc<Pools>,
        metrics: Arc<Metrics>,
        policy: Arc<PolicyLayer>,
        responses: Arc<dyn crate::store::documents::Documents>,
    ) -> Self {
        let signatures = Arc::new(signatures::Signatures::shared(responses.clone()));
        AiPipeline {
            pools,
            metrics,
            policy,
            responses,
            health: state::AiState::default(),
            tokens: providers::vertex::Tokens::default(),
            signatures,
        }
    }
}

impl Pipeline<[Arc<AiBackendIr>]> for AiPipeline {
    fn deny(&self, denial: &Denial, parts: &Parts, _peer: Peer, _policy: &PolicyIr) -> Response<ProxyBody> {
        let format = FrontDoor::of(parts).format_of(parts);
        let mut resp = AiError::from_denial(denial).into_response(format);
        denial.challenge_into(resp.headers_mut());
        resp
    }

    fn serve<'a>(
        &'a self,
        backends: &'a [Arc<AiBackendIr>],
        parts: &'a Parts,
        handoff: Handoff<'a>,
        body: Incoming,
    ) -> BoxFuture<'a, Response<ProxyBody>> {
        Box::pin(serve(self, backends, parts, handoff, body))
    }
}

/// What one AI request works with.
pub struct Ctx<'a> {
    pub pipe: &'a AiPipeline,
    pub backends: &'a [Arc<AiBackendIr>],
    pub headers: &'a HeaderMap,
    pub parts: &'a Parts,
    /// Who the client is, and the rule's policy, when the rule has one.
    pub admitted: Option<&'a Admitted>,
    /// The request's span, when traces are on.
    pub span: Option<&'a crate::metrics::trace::TraceSpan>,
    /// The outcome of a policy decision after admission that refused the request.
    pub refused: std::sync::OnceLock<&'static str>,
}

impl Ctx<'_> {
    /// Admission once the model is known: model access, authorization rules reading the model,
    /// and the rate limits asked then (token limits reserve `tokens`). The admission's headers
    /// go with the answer; its reservations are settled when the answer ends.
    pub async fn admit_model(&self, model: &str, tokens: Option<TokenAsk>) -> Result<Admission, AiError> {
        let Some(a) = self.admitted else { return Ok(Admission::default()) };
        if self.models_limited() || a.policy.authorization.is_some() {
            let checked = self.check_model(model);
            self.decided("model_access", checked.as_ref().err().map(|_| "forbidden"));
            checked?;
        }
        let Some(limits) = &a.policy.rate_limits else { return Ok(Admission::default()) };
        let subject = Subject {
            parts: self.parts,
            peer: a.peer,
            identity: &a.identity,
            route: &a.route,
            model: Some(model),
            tool: None,
        };
        let asked = crate::policy::limits::any_asked(limits, Stage::Model, tokens.is_some());
        let checked = self.pipe.policy.limits.check(limits, Stage::Model, &subject, tokens).await;
        if asked {
            self.decided("rate_limit", checked.as_ref().err().map(crate::policy::Denial::outcome));
        }
        checked.map_err(|d| {
            let mut e = AiError::from_denial(&d);
            e.headers = d.headers.clone();
            e
        })
    }

    /// A policy decision once the model is known (`check`: model_access, budget, rate_limit;
    /// `refused`: the refusal's outcome, or none when allowed): counted, noted on the
    /// request's span, and a refusal kept for the access log.
    fn decided(&self, check: &'static str, refused: Option<&'static str>) {
        let result = refused.unwrap_or("allowed");
        self.pipe.metrics.record_stage("model", check, result);
        if let Some(span) = self.span {
            use crate::metrics::trace::Attribute;
            let attributes = vec![
                Attribute::new("sluice.policy.stage", "model"),
                Attribute::new("sluice.policy.check", check),
                Attribute::new("sluice.policy.result", result),
            ];
            span.event("policy decision", attributes);
        }
        if let Some(outcome) = refused {
            let _ = self.refused.set(outcome);
        }
    }

    /// Whether the client may use `model`: the rule's and its key's model lists, then the
    /// authorization rules that read the model.
    pub fn check_model(&self, model: &str) -> Result<(), AiError> {
        let Some(a) = self.admitted else { return Ok(()) };
        if !a.allows_model(model) {
            let who = if a.identity.name.is_empty() { String::new() } else { format!(" for {}", a.identity.name) };
            return Err(AiError::new(
                errors::ErrorKind::Permission,
                http::StatusCode::FORBIDDEN,
                format!("the model `{model}` is not allowed{who}"),
            ));
        }
        if let Some(z) = &a.policy.authorization {
            let facts = authz::Facts { parts: self.parts, model: Some(model), mcp: None };
            authz::authorize(z, &a.identity, &facts, authz::Point::Model).map_err(|d| AiError::from_denial(&d))?;
        }
        Ok(())
    }

    /// The route's budgets for this request: refused when one is spent; the counters to record
    /// its cost in, and the soft-threshold warning headers.
    pub fn check_budgets(&self) -> Result<crate::policy::budgets::Spend, AiError> {
        let Some(a) = self.admitted else { return Ok(Default::default()) };
        let Some(b) = &a.policy.budgets else { return Ok(Default::default()) };
        let checked = crate::policy::budgets::check(&*self.pipe.policy.store, b, &a.identity, &a.route);
        self.decided("budget", checked.as_ref().err().map(crate::policy::Denial::outcome));
        checked.map_err(|d| AiError::from_denial(&d))
    }

    /// Whether the route's policy has token limits (then prompts are counted at admission).
    pub fn has_token_limits(&self) -> bool {
        self.admitted.and_then(|a| a.policy.rate_limits.as_ref()).is_some_and(|l| l.iter().any(|l| l.tokens.is_some()))
    }

    /// The route's prompt shaping, if its policy has some.
    pub fn shaping(&self) -> Option<&crate::ir::policy::Shaping> {
        self.admitted.and_then(|a| a.policy.shaping.as_deref())
    }

    /// The route's guards, if its policy has any.
    pub fn guards(&self) -> Option<&Arc<[crate::ir::policy::GuardIr]>> {
        self.admitted.and_then(|a| a.policy.guards.as_ref())
    }

    /// Whether the client's models are limited (then only the model-aware front doors serve it).
    fn models_limited(&self) -> bool {
        self.admitted.is_some_and(|a| a.policy.models.is_some() || !a.identity.models.is_empty())
    }
}

/// Serves a request routed to AIBackends; every failure is answered in the client's format.
async fn serve(
    pipe: &AiPipeline,
    backends: &[Arc<AiBackendIr>],
    parts: &Parts,
    handoff: Handoff<'_>,
    body: Incoming,
) -> Response<ProxyBody> {
    let door = FrontDoor::of(parts);
    let format = door.format_of(parts);
    let ctx = Ctx {
        pipe,
        backends,
        headers: &parts.headers,
        parts,
        admitted: handoff.admitted,
        span: handoff.span,
        refused: std::sync::OnceLock::new(),
    };
    match dispatch(&ctx, door, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "AI request failed");
            let mut resp = e.into_response(format);
            if let Some(outcome) = ctx.refused.get() {
                resp.extensions_mut().insert(crate::metrics::access_log::Refused(outcome));
            }
            resp
        }
    }
}

async fn dispatch(
    ctx: &Ctx<'_>,
    door: FrontDoor,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ProxyBody>, AiError> {
    match door {
        FrontDoor::Models => Ok(models(ctx)),
        FrontDoor::ChatCompletions | FrontDoor::Messages => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            let parsed = chat::parse(door.client_format(), bytes, parts.uri.query())?;
            chat::serve(ctx, parsed).await
        }
        FrontDoor::Responses => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            let sent = chat::json_object(&bytes)?;
            // The stored conversation, when this continues one, becomes the input.
            let mut whole = sent.clone();
            let storing = stored::prepare(ctx, &mut whole).await?;
            let mut parsed = chat::parse_value(ClientFormat::Responses, whole, None)?;
            // The response repeats what the client sent (its previous_response_id included).
            parsed.set_raw(sent);
            parsed.storing = Some(Arc::new(storing));
            chat::serve(ctx, parsed).await
        }
        FrontDoor::ResponseGet => stored::get(ctx, parts).await,
        FrontDoor::ResponseDelete => stored::delete(ctx, parts).await,
        FrontDoor::ResponseInputItems => stored::input_items_of(ctx, parts).await,
        FrontDoor::Embeddings => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            embeddings::serve(ctx, bytes).await
        }
        FrontDoor::CountTokens => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            count_tokens(ctx, bytes).await
        }
        FrontDoor::Gemini(method) => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            gemini_door::serve(ctx, method, parts, bytes).await
        }
        FrontDoor::GeminiModels => Ok(gemini_door::models(ctx)),
        FrontDoor::GeminiModel => gemini_door::model(ctx, parts),
        FrontDoor::Passthrough => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            passthrough(ctx, parts, bytes).await
        }
    }
}

/// The union of what the route's backends serve that the client may use: each model once,
/// with the backend that serves it.
fn allowed_models(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for b in ctx.backends {
        for m in b.listed_models() {
            let allowed = ctx.admitted.is_none_or(|a| a.allows_model(&m));
            if allowed && seen.insert(m.clone()) {
                out.push((m, b.key.to_string()));
            }
        }
    }
    out
}

/// `GET /v1/models`: the union of what the route's backends serve.
fn models(ctx: &Ctx<'_>) -> Response<ProxyBody> {
    let data: Vec<Value> = allowed_models(ctx)
        .into_iter()
        .map(|(m, owner)| json!({"id": m, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    chat::json_response(json!({"object": "list", "data": data}))
}

/// Anthropic's token counting: asked of an Anthropic provider, estimated locally for others
/// (marked by the `x-sluice-token-estimate: true` header).
async fn count_tokens(ctx: &Ctx<'_>, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let mut raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if let Some(o) = raw.as_object_mut() {
        // count_tokens takes no max_tokens; the messages parser wants one.
        o.entry("max_tokens").or_insert(json!(1));
    }
    let parsed = chat::parse(ClientFormat::Anthropic, Bytes::from(raw.to_string()), None)?;
    let admission = ctx.admit_model(&parsed.req.model, None).await?;
    let (backend, target) = chat::pick_backend(ctx.backends, &parsed.req.model)?;
    let resp = failover::run(ctx, backend, |p| {
        let bytes = bytes.clone();
        let target = target.clone();
        let parsed = &parsed;
        async move {
            match providers::of(p.kind).count_tokens_path() {
                Some(path) => {
                    let mut raw: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    if let Value::Object(o) = &mut raw {
                        o.insert("model".into(), Value::String(target));
                    }
                    let body = Bytes::from(raw.to_string());
                    let resp = providers::call(
                        ctx.pipe,
                        &p,
                        http::Method::POST,
                        path,
                        body,
                        ctx.headers,
                        ClientFormat::Anthropic,
                    )
                    .await?;
                    Ok(chat::passed_on(resp))
                }
                None => {
                    let n = tokens::estimate_prompt(&parsed.req);
                    Ok(chat::estimated_response(json!({"input_tokens": n})))
                }
            }
        }
    })
    .await?;
    Ok(with_limit_headers(resp, &admission.headers))
}

/// The answer with the rate-limit headers of its admission.
/// The answer with the rate-limit headers of its admission (over any the provider gave).
pub fn with_limit_headers(mut resp: Response<ProxyBody>, limits: &RateHeaders) -> Response<ProxyBody> {
    limits.write(resp.headers_mut(), true);
    resp
}

pub fn with_headers(mut resp: Response<ProxyBody>, headers: &HeaderMap) -> Response<ProxyBody> {
    for (name, value) in headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// A client path relative to a provider's base path: a base URL ending in a version segment
/// (`/v1`, `/openai/v1`, `/v1beta`) already holds the version the client's path starts with.
fn relative_path<'p>(prefix: &str, path: &'p str) -> &'p str {
    let version = prefix.rsplit('/').next().unwrap_or_default();
    if version.is_empty() {
        return path;
    }
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(version)) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => rest,
        _ => path,
    }
}

/// Any other path: forwarded to the first backend that opens it (`spec.passthrough`), to its
/// first provider with its credentials applied; refused (404) where none does. A JSON body's
/// `model` must be one the backend serves and the client may use.
async fn passthrough(ctx: &Ctx<'_>, parts: &Parts, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let (method, path) = (&parts.method, parts.uri.path());
    let backend = ctx.backends.iter().find(|b| b.passes(method, path)).ok_or_else(|| {
        AiError::not_found(format!(
            "{method} {path} is not served here: this AI route serves chat completions, messages, responses, \
             embeddings and models (other paths only where an AIBackend lists them in spec.passthrough)"
        ))
    })?;
    if ctx.models_limited() {
        return Err(AiError::new(
            errors::ErrorKind::Permission,
            http::StatusCode::FORBIDDEN,
            format!("{path} is not open to clients limited to some models"),
        ));
    }
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&bytes)
        && let Some(model) = body.get("model").and_then(Value::as_str)
    {
        ctx.check_model(model)?;
        if backend.serves(model).is_none() {
            return Err(AiError::not_found(format!(
                "The model `{model}` does not exist or you do not have access to it."
            )));
        }
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    failover::run(ctx, backend, |p| {
        let body = bytes.clone();
        let path = path.clone();
        async move {
            let Some(ep) = &p.endpoint else {
                return Err(AiError::not_found(format!("provider {} serves no path {path}", p.id)));
            };
            let rel = relative_path(&ep.path_prefix, &path);
            let resp =
                providers::call(ctx.pipe, &p, parts.method.clone(), rel, body, ctx.headers, ClientFormat::OpenAi)
                    .await?;
            Ok(chat::passed_on(resp))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn passthrough_paths_drop_the_version_the_base_url_holds() {
        use super::relative_path;
        assert_eq!(relative_path("/v1", "/v1/files"), "/files");
        assert_eq!(relative_path("/openai/v1", "/v1/files?x=1"), "/files?x=1");
        assert_eq!(relative_path("/v1beta", "/v1beta/models/g:countTokens"), "/models/g:countTokens");
        assert_eq!(relative_path("/v1", "/v1beta/models"), "/v1beta/models");
        assert_eq!(relative_path("", "/v1/files"), "/v1/files");
    }
}
