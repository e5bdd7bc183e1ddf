//! `POST /v1/embeddings`: OpenAI-format providers get the request unchanged but for the model
//! and credentials; Gemini gets it translated to `batchEmbedContents`. Other providers answer
//! a 400 that names them. Embeddings are accounted as chats are (docs/observability.md): input
//! tokens by provider and model, cost, budgets, usage by identity, the GenAI metrics and span
//! (operation `embeddings`). The provider's `usage.prompt_tokens` is read off the end of its
//! answer as the answer goes by; an answer without it is counted and marked estimated.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use serde_json::Value;

use super::canonical::Usage;
use super::errors::AiError;
use super::frontdoor::ClientFormat;
use super::providers::Embeddings;
use super::telemetry::{self, CallReport};
use super::wire::gemini_embed;
use super::{Ctx, chat, failover, providers, tokens};
use crate::httpkit::body::ProxyBody;
use crate::httpkit::observe;
use crate::ir::ai::AiProviderIr;
use crate::policy::budgets::Spend;

/// Bytes kept from the end of an OpenAI-format answer, where its `usage` is.
const USAGE_TAIL: usize = 1024;

pub async fn serve(ctx: &Ctx<'_>, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let model = raw.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    if model.is_empty() {
        return Err(AiError::invalid_param("model", "you must provide a model parameter"));
    }
    let spend = Arc::new(ctx.check_budgets()?);
    let admission = ctx.admit_model(&model, None).await?;
    let (backend, target) = chat::pick_backend(ctx.backends, &model)?;
    let report = CallReport::new(ctx, "embeddings", (&model, false), None);
    let resp = failover::run(ctx, backend, |p| {
        let (raw, target, report, spend) = (&raw, target.clone(), report.clone(), spend.clone());
        async move {
            let (model, path) = match providers::of(p.kind).embeddings(&p, &target) {
                Embeddings::OpenAi { model, path } => (model, path),
                Embeddings::Gemini => return gemini(ctx, &p, raw, &target, (&report, &spend)).await,
                Embeddings::Unsupported => {
                    return Err(AiError::invalid(format!(
                        "provider {} ({}) cannot serve /embeddings: OpenAI-format providers and Gemini can",
                        p.id,
                        p.kind.as_str()
                    )));
                }
            };
            let mut raw = raw.clone();
            raw["model"] = Value::String(model.clone());
            let traced = report.traced_headers(ctx.headers);
            let headers = traced.as_ref().unwrap_or(ctx.headers);
            let body = Bytes::from(raw.to_string());
            let sent = std::time::Instant::now();
            let resp = providers::call(ctx.pipe, &p, http::Method::POST, &path, body, headers, ClientFormat::OpenAi)
                .await
                .inspect_err(|e| report.attempt_failed(&p.id, e.status))?;
            report.attempt_answered(sent);
            Ok(accounted_on_the_way(ctx, p, (model, raw), report, spend, chat::passed_on(resp)))
        }
    })
    .await?;
    let resp = super::with_headers(super::with_limit_headers(resp, &admission.headers), &spend.headers);
    Ok(report.watch(resp, ctx.pipe.metrics.clone()))
}

/// The provider's answer, passed on as it comes; when it has gone, its usage (read from its
/// last bytes, else estimated from the input) is accounted.
fn accounted_on_the_way(
    ctx: &Ctx<'_>,
    p: Arc<AiProviderIr>,
    (model, raw): (String, Value),
    report: Arc<CallReport>,
    spend: Arc<Spend>,
    resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let (metrics, store) = (ctx.pipe.metrics.clone(), ctx.pipe.policy.store.clone());
    let label = telemetry::model_label(ctx.backends, &model);
    let (parts, body) = resp.into_parts();
    let body = observe::watch_tail(
        body,
        USAGE_TAIL,
        Box::new(move |_, tail| {
            let usage = match prompt_tokens(tail) {
                Some(input) => Usage { input, ..Usage::default() },
                None => Usage { input: estimate(&model, &raw), estimated: true, ..Usage::default() },
            };
            account(&metrics, (&*store, &spend), (&p, &report), (label, model), usage);
        }),
    );
    Response::from_parts(parts, body)
}

/// Accounts one answer's usage and tells the call's report who served it.
fn account(
    metrics: &crate::metrics::Metrics,
    (store, spend): (&dyn crate::store::Store, &Spend),
    (p, report): (&AiProviderIr, &CallReport),
    (label, model): (Arc<str>, String),
    usage: Usage,
) {
    let cost_usd = chat::account(metrics, (store, spend), p, (&label, &model), &usage);
    let served = telemetry::Served { model_label: label, model, usage: Some(usage), cost_usd, finish_reason: None };
    report.served(p, served);
}

/// `usage.prompt_tokens` of an OpenAI-format answer, from its last bytes (where `usage` is
/// written); `None` when they do not hold it.
fn prompt_tokens(tail: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"usage\"";
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let rest = &tail[at..];
    let open = rest.iter().position(|b| !b.is_ascii_whitespace() && *b != b':')?;
    let mut values = serde_json::Deserializer::from_slice(&rest[open..]).into_iter::<Value>();
    values.next()?.ok()?.get("prompt_tokens")?.as_u64()
}

/// The input's tokens, counted here: for answers that do not report them.
fn estimate(model: &str, raw: &Value) -> u64 {
    gemini_embed::inputs(raw).map_or(0, |texts| texts.iter().map(|t| tokens::estimate_text(model, t)).sum())
}

async fn gemini(
    ctx: &Ctx<'_>,
    p: &AiProviderIr,
    raw: &Value,
    model: &str,
    (report, spend): (&CallReport, &Spend),
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
    let traced = report.traced_headers(ctx.headers);
    let headers = traced.as_ref().unwrap_or(ctx.headers);
    let path = gemini_embed::path(model);
    let sent = std::time::Instant::now();
    let resp = providers::call(
        ctx.pipe,
        p,
        http::Method::POST,
        &path,
        Bytes::from(body.to_string()),
        headers,
        ClientFormat::OpenAi,
    )
    .await
    .inspect_err(|e| report.attempt_failed(&p.id, e.status))?;
    report.attempt_answered(sent);
    let bytes = providers::read_limited(resp.into_body(), providers::MAX_RESPONSE).await?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::upstream(format!("provider {} sent invalid JSON: {e}", p.id)))?;
    let prompt_tokens = texts.iter().map(|t| tokens::estimate_text(model, t)).sum();
    let out = gemini_embed::render_response(&json, model, base64, prompt_tokens)?;
    // Gemini reports no usage for embeddings: the count is Sluice's, and marked so.
    let usage = Usage { input: prompt_tokens, estimated: true, ..Usage::default() };
    let label = telemetry::model_label(ctx.backends, model);
    account(&ctx.pipe.metrics, (&*ctx.pipe.policy.store, spend), (p, report), (label, model.to_string()), usage);
    Ok(chat::estimated_response(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_tokens_are_read_from_the_answers_end() {
        let answer = br#"{"object": "list", "data": [{"embedding": [0.1]}], "model": "m",
            "usage": {"prompt_tokens": 12, "total_tokens": 12}}"#;
        assert_eq!(prompt_tokens(answer), Some(12));
        assert_eq!(prompt_tokens(&answer[answer.len() - 56..]), Some(12), "from a tail that holds it");
        assert_eq!(prompt_tokens(br#"{"data": [], "usage": {"prompt_tok"#), None, "cut");
        assert_eq!(prompt_tokens(br#"{"data": []}"#), None);
        assert_eq!(prompt_tokens(br#"{"usage": null}"#), None);
    }
}
