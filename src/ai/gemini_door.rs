//! The Gemini front door: Google's clients (the `google-genai` SDKs, Gemini CLI) call
//! `…/models/{model}:{method}` and list `…/models`. Chat goes through the same pipeline as the
//! other front doors ([`super::chat`]); token counting and embeddings are answered here, in
//! Google's shapes.

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use serde_json::{Value, json};

use super::errors::AiError;
use super::frontdoor::{ClientFormat, GeminiMethod, gemini_model, gemini_target};
use super::{Ctx, chat, embeddings, failover, providers, tokens};
use crate::httpkit::body::ProxyBody;
use crate::ir::ai::WireFormat;

/// `POST …/models/{model}:{method}`.
pub async fn serve(
    ctx: &Ctx<'_>,
    method: GeminiMethod,
    parts: &Parts,
    bytes: Bytes,
) -> Result<Response<ProxyBody>, AiError> {
    let model = gemini_target(parts.uri.path().trim_end_matches('/')).map(|(m, _)| m).unwrap_or_default();
    let model = percent_decoded(model);
    match method {
        GeminiMethod::Generate | GeminiMethod::Stream { .. } => {
            chat::serve(ctx, chat::parse_gemini(&bytes, &model, method)?).await
        }
        GeminiMethod::CountTokens => count_tokens(ctx, &model, bytes).await,
        GeminiMethod::Embed | GeminiMethod::BatchEmbed => embed(ctx, &model, method, &bytes).await,
    }
}

/// A model name from a path segment (`gemini-2.5-flash`, or percent-encoded).
fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn json_body(bytes: &[u8]) -> Result<Value, AiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(AiError::invalid("Invalid JSON payload received: the body must be an object")),
        Err(e) => Err(AiError::invalid(format!("Invalid JSON payload received. {e}"))),
    }
}

/// `countTokens`: asked of a Gemini provider, counted with Sluice's tokenizer for the others
/// (then the answer says so in `x-sluice-token-estimate: true`). The body is `contents`, or a
/// whole `generateContentRequest`.
async fn count_tokens(ctx: &Ctx<'_>, model: &str, bytes: Bytes) -> Result<Response<ProxyBody>, AiError> {
    let raw = json_body(&bytes)?;
    let inner = raw.get("generateContentRequest").or_else(|| raw.get("generate_content_request")).unwrap_or(&raw);
    let req = super::wire::gemini_client::parse_request(inner, model, false)?;
    let admission = ctx.admit_model(&req.model, None).await?;
    let (backend, target) = chat::pick_backend(ctx.backends, &req.model)?;
    let resp = failover::run(ctx, backend, |p| {
        let (raw, req, target) = (&raw, &req, target.clone());
        async move {
            if p.kind == WireFormat::Gemini {
                let mut raw = raw.clone();
                if let Some(g) = raw.get_mut("generateContentRequest").and_then(Value::as_object_mut) {
                    g.insert("model".into(), json!(format!("models/{target}")));
                }
                let path = providers::gemini::path(Some("/models/{model}:countTokens"), &target, false);
                let resp = providers::call(
                    ctx.pipe,
                    &p,
                    http::Method::POST,
                    &path,
                    Bytes::from(raw.to_string()),
                    ctx.headers,
                    ClientFormat::Gemini,
                )
                .await?;
                return Ok(chat::passed_on(resp));
            }
            let n = tokens::estimate_prompt(req);
            Ok(chat::estimated_response(json!({"totalTokens": n})))
        }
    })
    .await?;
    Ok(super::with_limit_headers(resp, &admission.headers))
}

/// The texts of one `EmbedContentRequest` (its `content`'s text parts, joined).
fn embed_text(r: &Value) -> Result<String, AiError> {
    let parts = r.pointer("/content/parts").and_then(Value::as_array);
    let texts: Vec<&str> = parts.into_iter().flatten().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
    if texts.is_empty() {
        return Err(AiError::invalid_param("content", "content must have at least one text part"));
    }
    Ok(texts.join("\n"))
}

/// `embedContent` and `batchEmbedContents`, served by the embeddings pipeline: the request
/// becomes an OpenAI embeddings request (whatever the provider), the answer Google's shape.
async fn embed(ctx: &Ctx<'_>, model: &str, method: GeminiMethod, bytes: &[u8]) -> Result<Response<ProxyBody>, AiError> {
    let raw = json_body(bytes)?;
    let requests: Vec<&Value> = match method {
        GeminiMethod::BatchEmbed => raw.get("requests").and_then(Value::as_array).into_iter().flatten().collect(),
        _ => vec![&raw],
    };
    if requests.is_empty() {
        return Err(AiError::invalid_param("requests", "requests must not be empty"));
    }
    let texts = requests.iter().map(|r| embed_text(r)).collect::<Result<Vec<_>, _>>()?;
    let dims = requests
        .iter()
        .find_map(|r| r.get("outputDimensionality").or_else(|| r.get("output_dimensionality")))
        .and_then(Value::as_u64);
    let mut openai = json!({"model": model.strip_prefix("models/").unwrap_or(model), "input": texts});
    if let Some(d) = dims {
        openai["dimensions"] = json!(d);
    }
    let resp = embeddings::serve(ctx, Bytes::from(openai.to_string())).await?;
    let (head, b) = resp.into_parts();
    let collected = read_answer(b).await.map_err(|e| AiError::upstream(format!("reading the embeddings: {e}")))?;
    let answer: Value = serde_json::from_slice(&collected)
        .map_err(|e| AiError::upstream(format!("the provider's embeddings are not JSON: {e}")))?;
    let vectors: Vec<Value> = answer
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| json!({"values": d.get("embedding").cloned().unwrap_or(Value::Null)}))
        .collect();
    if vectors.len() != texts.len() || vectors.iter().any(|v| !v["values"].is_array()) {
        return Err(AiError::upstream("the provider's embeddings do not match the texts asked for"));
    }
    let out = match method {
        GeminiMethod::BatchEmbed => json!({"embeddings": vectors}),
        _ => json!({"embedding": vectors[0]}),
    };
    let mut resp = chat::json_response(out);
    if let Some(v) = head.headers.get("x-sluice-token-estimate") {
        resp.headers_mut().insert("x-sluice-token-estimate", v.clone());
    }
    Ok(with_rate_headers(resp, &head.headers))
}

/// An answer's body, read whole (at most [`providers::MAX_RESPONSE`]), frame by frame: its
/// error is a boxed error already, with no conversion to prove `Send` through.
async fn read_answer(mut b: ProxyBody) -> Result<Bytes, String> {
    use http_body_util::BodyExt as _;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = b.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > providers::MAX_RESPONSE {
                return Err(format!("the answer is larger than {} bytes", providers::MAX_RESPONSE));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// The rate-limit headers of an inner answer, carried to the outer one.
fn with_rate_headers(mut resp: Response<ProxyBody>, from: &http::HeaderMap) -> Response<ProxyBody> {
    for (name, value) in from.iter().filter(|(n, _)| n.as_str().starts_with("x-ratelimit-")) {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// One model as Google lists it.
fn model_json(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "001",
        "displayName": id,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"],
    })
}

/// `GET …/models`: what the route's backends serve, that the client may use.
pub fn models(ctx: &Ctx<'_>) -> Response<ProxyBody> {
    let list: Vec<Value> = super::allowed_models(ctx).iter().map(|(m, _)| model_json(m)).collect();
    chat::json_response(json!({"models": list}))
}

/// `GET …/models/{model}`.
pub fn model(ctx: &Ctx<'_>, parts: &Parts) -> Result<Response<ProxyBody>, AiError> {
    let asked = percent_decoded(gemini_model(parts.uri.path()).unwrap_or_default());
    ctx.check_model(&asked)?;
    chat::pick_backend(ctx.backends, &asked)?;
    Ok(chat::json_response(model_json(&asked)))
}
