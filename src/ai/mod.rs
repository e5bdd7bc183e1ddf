//! The AI pipeline: OpenAI- and Anthropic-compatible front doors in front of many providers.
//! It reads the IR only; provider health lives in [`state::AiState`], outside the snapshot.

pub mod canonical;
pub mod catalog;
mod chat;
pub mod errors;
mod failover;
pub mod frontdoor;
pub mod providers;
pub mod state;
pub mod stream;
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
use crate::ir::ai::{AiBackendIr, ProviderKind};
use crate::proxy::body::ProxyBody;
use crate::proxy::handler::Shared;

/// Largest request body the AI path reads.
pub const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

/// What one AI request works with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub backends: &'a [Arc<AiBackendIr>],
    pub headers: &'a HeaderMap,
}

/// Serves a request routed to AIBackends; every failure is answered in the client's format.
pub async fn serve(
    shared: &Shared,
    backends: &[Arc<AiBackendIr>],
    parts: &Parts,
    body: Incoming,
) -> Response<ProxyBody> {
    let door = FrontDoor::detect(&parts.method, parts.uri.path());
    let format = door.client_format();
    let ctx = Ctx { shared, backends, headers: &parts.headers };
    match dispatch(&ctx, door, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "AI request failed");
            e.into_response(format)
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
            let parsed = chat::parse(door.client_format(), &bytes)?;
            chat::serve(ctx, parsed).await
        }
        FrontDoor::Embeddings => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            same_format(ctx, door, bytes).await
        }
        FrontDoor::CountTokens => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            count_tokens(ctx, bytes).await
        }
        FrontDoor::Responses => {
            Err(AiError::invalid("the Responses API (/v1/responses) is not supported yet; use /v1/chat/completions"))
        }
        FrontDoor::Passthrough => {
            let bytes = providers::read_limited(body, MAX_REQUEST_BODY).await?;
            passthrough(ctx, parts, bytes).await
        }
    }
}

/// `GET /v1/models`: the union of what the route's backends serve.
fn models(ctx: &Ctx<'_>) -> Response<ProxyBody> {
    let mut seen = std::collections::BTreeSet::new();
    let mut data = Vec::new();
    for b in ctx.backends {
        for m in b.listed_models() {
            if seen.insert(m.clone()) {
                data.push(json!({"id": m, "object": "model", "created": 0, "owned_by": b.key.to_string()}));
            }
        }
    }
    chat::json_response(json!({"object": "list", "data": data}))
}

/// Embeddings and token counting go to a provider of the same format, unchanged but for the
/// model name and credentials.
async fn same_format(ctx: &Ctx<'_>, door: FrontDoor, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let format = door.client_format();
    let mut raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let model = raw.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    if model.is_empty() {
        return Err(AiError::invalid_param("model", "you must provide a model parameter"));
    }
    let (backend, target) = chat::pick_backend(ctx.backends, &model)?;
    let (want, path) = match door {
        FrontDoor::Embeddings => (ProviderKind::OpenAi, providers::openai::EMBEDDINGS_PATH),
        _ => (ProviderKind::Anthropic, providers::anthropic::COUNT_TOKENS_PATH),
    };
    raw["model"] = Value::String(target);
    let body = Bytes::from(raw.to_string());
    failover::run(ctx, backend, |p| {
        let body = body.clone();
        async move {
            if p.kind != want {
                return Err(AiError::invalid(format!("provider {} ({:?}) cannot serve {}", p.id, p.kind, path)));
            }
            let resp =
                providers::call(&ctx.shared.pools, &p, http::Method::POST, path, body, ctx.headers, format).await?;
            let (parts, b) = resp.into_parts();
            Ok(Response::from_parts(parts, crate::proxy::body::from_incoming(b)))
        }
    })
    .await
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
    let parsed = chat::parse(ClientFormat::Anthropic, raw.to_string().as_bytes())?;
    let (backend, target) = chat::pick_backend(ctx.backends, &parsed.req.model)?;
    failover::run(ctx, backend, |p| {
        let bytes = bytes.clone();
        let target = target.clone();
        let parsed = &parsed;
        async move {
            match p.kind {
                ProviderKind::Anthropic => {
                    let mut raw: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    raw["model"] = Value::String(target);
                    let body = Bytes::from(raw.to_string());
                    let path = providers::anthropic::COUNT_TOKENS_PATH;
                    let resp = providers::call(
                        &ctx.shared.pools,
                        &p,
                        http::Method::POST,
                        path,
                        body,
                        ctx.headers,
                        ClientFormat::Anthropic,
                    )
                    .await?;
                    let (parts, b) = resp.into_parts();
                    Ok(Response::from_parts(parts, crate::proxy::body::from_incoming(b)))
                }
                ProviderKind::OpenAi | ProviderKind::Mock => {
                    let n = tokens::estimate_prompt(&parsed.req);
                    let mut resp = chat::json_response(json!({"input_tokens": n}));
                    resp.headers_mut().insert("x-sluice-token-estimate", http::HeaderValue::from_static("true"));
                    Ok(resp)
                }
            }
        }
    })
    .await
}

/// Any other path: forwarded to the first provider with its credentials applied.
async fn passthrough(ctx: &Ctx<'_>, parts: &Parts, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let backend = ctx.backends.first().ok_or_else(|| AiError::internal("no AIBackend"))?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    failover::run(ctx, backend, |p| {
        let body = bytes.clone();
        let path = path.clone();
        async move {
            let Some(ep) = &p.endpoint else {
                return Err(AiError::not_found(format!("provider {} serves no path {path}", p.id)));
            };
            // A base URL ending in /v1 already holds the version the client's path starts with.
            let rel = if ep.path_prefix.ends_with("/v1") { path.strip_prefix("/v1").unwrap_or(&path) } else { &path };
            let resp = providers::call(
                &ctx.shared.pools,
                &p,
                parts.method.clone(),
                rel,
                body,
                ctx.headers,
                ClientFormat::OpenAi,
            )
            .await?;
            let (parts, b) = resp.into_parts();
            Ok(Response::from_parts(parts, crate::proxy::body::from_incoming(b)))
        }
    })
    .await
}
