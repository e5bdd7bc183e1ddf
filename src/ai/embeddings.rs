//! `POST /v1/embeddings`: OpenAI-format providers get the request unchanged but for the model
//! and credentials; Gemini gets it translated to `batchEmbedContents`. Other providers answer
//! a 400 that names them.

use bytes::Bytes;
use http::Response;
use serde_json::Value;

use super::errors::AiError;
use super::frontdoor::ClientFormat;
use super::providers::Embeddings;
use super::wire::gemini_embed;
use super::{Ctx, chat, failover, providers, tokens};
use crate::httpkit::body::ProxyBody;

pub async fn serve(ctx: &Ctx<'_>, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let model = raw.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    if model.is_empty() {
        return Err(AiError::invalid_param("model", "you must provide a model parameter"));
    }
    let admission = ctx.admit_model(&model, None).await?;
    let (backend, target) = chat::pick_backend(ctx.backends, &model)?;
    let resp = failover::run(ctx, backend, |p| {
        let raw = &raw;
        let target = target.clone();
        async move {
            let (model, path) = match providers::of(p.kind).embeddings(&p, &target) {
                Embeddings::OpenAi { model, path } => (model, path),
                Embeddings::Gemini => return gemini(ctx, &p, raw, &target).await,
                Embeddings::Unsupported => {
                    return Err(AiError::invalid(format!(
                        "provider {} ({}) cannot serve /embeddings: OpenAI-format providers and Gemini can",
                        p.id,
                        p.kind.as_str()
                    )));
                }
            };
            let mut raw = raw.clone();
            raw["model"] = Value::String(model);
            let resp = providers::call(
                ctx.pipe,
                &p,
                http::Method::POST,
                &path,
                Bytes::from(raw.to_string()),
                ctx.headers,
                ClientFormat::OpenAi,
            )
            .await?;
            Ok(chat::passed_on(resp))
        }
    })
    .await?;
    Ok(super::with_limit_headers(resp, &admission.headers))
}

async fn gemini(
    ctx: &Ctx<'_>,
    p: &crate::ir::ai::AiProviderIr,
    raw: &Value,
    model: &str,
) -> Result<Response<ProxyBody>, AiError> {
    let texts = gemini_embed::inputs(raw)?;
    let base64 = match raw.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(AiError::invalid_param(
                "encoding_format",
                format!("encoding_format must be float or base64, not {other:?}"),
            ));
        }
    };
    let body = gemini_embed::build_request(model, &texts, raw);
    let resp = providers::call(
        ctx.pipe,
        p,
        http::Method::POST,
        &gemini_embed::path(model),
        Bytes::from(body.to_string()),
        ctx.headers,
        ClientFormat::OpenAi,
    )
    .await?;
    let bytes = providers::read_limited(resp.into_body(), providers::MAX_RESPONSE).await?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::upstream(format!("provider {} sent invalid JSON: {e}", p.id)))?;
    let prompt_tokens = texts.iter().map(|t| tokens::estimate_text(model, t)).sum();
    let out = gemini_embed::render_response(&json, model, base64, prompt_tokens)?;
    Ok(chat::estimated_response(out))
}
