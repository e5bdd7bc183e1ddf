//! Stored Responses: `store: true` (OpenAI's default) keeps each response with the input items
//! of its whole conversation, so that `previous_response_id` can continue it — on any provider,
//! since what is kept is the Responses items themselves, read into the canonical model like any
//! request — and `GET`/`DELETE …/responses/{id}` and `GET …/responses/{id}/input_items` can
//! answer. A stored response is visible only to the identity that created it (requests with no
//! identity share one space); any other gets a 404, as for an id that never was.

use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{AiError, ErrorKind};
use super::{Ctx, chat};
use crate::httpkit::body::ProxyBody;

/// What one stored response keeps.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    owner: String,
    /// The `response` object as it was answered.
    response: Value,
    /// The input items of the whole conversation up to it, each with an id.
    input: Vec<Value>,
}

/// What a `POST …/responses` that is stored (or continues a stored one) carries along.
pub struct Storing {
    /// The id to answer with (`resp_` and 32 random hex digits), when the response is stored.
    pub id: Option<String>,
    owner: String,
    /// The input items of the whole conversation, this request's last.
    conversation: Vec<Value>,
}

fn key(id: &str) -> String {
    format!("resp|{id}")
}

fn owner_of(ctx: &Ctx<'_>) -> String {
    ctx.admitted.map(|a| a.identity.name.clone()).unwrap_or_default()
}

fn not_found(id: &str, param: Option<&str>) -> AiError {
    let mut e = AiError::not_found(format!("Response with id '{id}' not found."));
    e.param = param.map(str::to_string);
    e
}

fn unavailable(e: String) -> AiError {
    AiError { retryable: false, ..AiError::new(ErrorKind::Upstream, StatusCode::SERVICE_UNAVAILABLE, e) }
}

/// The stored response `id`, if the client may see it.
async fn load(ctx: &Ctx<'_>, id: &str, param: Option<&str>) -> Result<Doc, AiError> {
    let text = ctx.pipe.responses.get(&key(id)).await.map_err(unavailable)?.ok_or_else(|| not_found(id, param))?;
    let doc: Doc = serde_json::from_str(&text)
        .map_err(|e| AiError::internal(format!("the stored response {id} is unreadable: {e}")))?;
    if doc.owner != owner_of(ctx) {
        return Err(not_found(id, param));
    }
    Ok(doc)
}

/// This request's `input` as items (a string is one user message).
fn input_items(raw: &Value) -> Vec<Value> {
    match raw.get("input") {
        Some(Value::String(s)) => {
            vec![json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]})]
        }
        Some(Value::Array(items)) => items.clone(),
        _ => vec![],
    }
}

/// Reads `store` and `previous_response_id`: `raw` is rewritten to hold the whole conversation
/// as its `input` (and no `previous_response_id`), ready for the Responses parser.
pub async fn prepare(ctx: &Ctx<'_>, raw: &mut Value) -> Result<Storing, AiError> {
    let store = match raw.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(AiError::invalid_param("store", "store must be a boolean")),
    };
    let mut conversation = Vec::new();
    match raw.get("previous_response_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(prev)) => {
            let doc = load(ctx, prev, Some("previous_response_id")).await?;
            conversation = doc.input;
            conversation.extend(doc.response.get("output").and_then(Value::as_array).into_iter().flatten().cloned());
        }
        Some(_) => return Err(AiError::invalid_param("previous_response_id", "previous_response_id must be a string")),
    }
    conversation.extend(input_items(raw));
    if let Some(o) = raw.as_object_mut() {
        o.remove("previous_response_id");
        o.insert("input".into(), Value::Array(conversation.clone()));
    }
    let id = store.then(|| format!("resp_{:032x}", rand::random::<u128>()));
    Ok(Storing { id, owner: owner_of(ctx), conversation })
}

/// Keeps an answered `response` object (when the request is stored).
pub async fn keep(docs: &dyn crate::store::documents::Documents, storing: &Storing, response: &Value) {
    let Some(id) = &storing.id else { return };
    let suffix = id.strip_prefix("resp_").unwrap_or(id);
    let input = storing
        .conversation
        .iter()
        .enumerate()
        .map(|(n, item)| match item {
            Value::Object(o) if !o.contains_key("id") => {
                let mut o = o.clone();
                o.insert("id".into(), json!(format!("item_{suffix}_{n}")));
                Value::Object(o)
            }
            other => other.clone(),
        })
        .collect();
    let doc = Doc { owner: storing.owner.clone(), response: response.clone(), input };
    let text = match serde_json::to_string(&doc) {
        Ok(t) => t,
        Err(e) => return tracing::warn!(error = %e, "a response could not be stored"),
    };
    if let Err(e) = docs.put(&key(id), text).await {
        tracing::warn!(error = %e, %id, "a response could not be stored");
    }
}

/// `keep`, from a place that cannot wait (the end of a stream).
pub fn keep_later(docs: Arc<dyn crate::store::documents::Documents>, storing: Arc<Storing>, response: Value) {
    tokio::spawn(async move { keep(&*docs, &storing, &response).await });
}

/// The id of `…/responses/{id}` (and of `…/responses/{id}/input_items`).
pub fn id_of(path: &str) -> Option<&str> {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix("/input_items").unwrap_or(path);
    let (_, id) = path.rsplit_once("/responses/")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// `GET …/responses/{id}`.
pub async fn get(ctx: &Ctx<'_>, parts: &Parts) -> Result<Response<ProxyBody>, AiError> {
    let id = id_of(parts.uri.path()).unwrap_or_default();
    Ok(chat::json_response(load(ctx, id, None).await?.response))
}

/// `DELETE …/responses/{id}`.
pub async fn delete(ctx: &Ctx<'_>, parts: &Parts) -> Result<Response<ProxyBody>, AiError> {
    let id = id_of(parts.uri.path()).unwrap_or_default();
    load(ctx, id, None).await?;
    ctx.pipe.responses.delete(&key(id)).await.map_err(unavailable)?;
    Ok(chat::json_response(json!({"id": id, "object": "response.deleted", "deleted": true})))
}

/// `GET …/responses/{id}/input_items`: `order` (`desc`, the default, or `asc`), `limit` (1 to
/// 100, 20 by default) and `after` (an item id) page through them as OpenAI does.
pub async fn input_items_of(ctx: &Ctx<'_>, parts: &Parts) -> Result<Response<ProxyBody>, AiError> {
    let id = id_of(parts.uri.path()).unwrap_or_default();
    let mut items = load(ctx, id, None).await?.input;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match param("order") {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(other) => {
            return Err(AiError::invalid_param("order", format!("order must be asc or desc, not {other:?}")));
        }
    }
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return Err(AiError::invalid_param("limit", "limit must be an integer from 1 to 100")),
    };
    if let Some(after) = param("after") {
        let at = items.iter().position(|i| i.get("id").and_then(Value::as_str) == Some(after));
        let at =
            at.ok_or_else(|| AiError::invalid_param("after", format!("no input item {after:?} in this response")))?;
        items.drain(..=at);
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let first = items.first().and_then(|i| i.get("id")).cloned().unwrap_or(Value::Null);
    let last = items.last().and_then(|i| i.get("id")).cloned().unwrap_or(Value::Null);
    Ok(chat::json_response(
        json!({"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": has_more}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_paths() {
        assert_eq!(id_of("/v1/responses/resp_1"), Some("resp_1"));
        assert_eq!(id_of("/v1/responses/resp_1/input_items"), Some("resp_1"));
        assert_eq!(id_of("/v1/responses/resp_1/"), Some("resp_1"));
        assert_eq!(id_of("/v1/responses"), None);
        assert_eq!(id_of("/v1/responses/a/b"), None);
    }

    #[test]
    fn a_string_input_is_one_user_message() {
        let items = input_items(&json!({"input": "hi"}));
        assert_eq!(
            items,
            vec![json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})]
        );
    }
}
