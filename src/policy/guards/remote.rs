//! Guards decided by a service: a webhook (Sluice's protocol, below) or an OpenAI-compatible
//! moderation endpoint. Both get the texts in the guard's scope, in order, and decide for all
//! of them at once.
//!
//! The webhook gets `POST <path>` with
//! `{"guard": name, "phase": "prompt"|"answer", "identity": name, "route": route,
//!   "texts": [{"scope": "user", "text": "..."}, ...]}`
//! and answers `{"action": "pass"}`, `{"action": "mask", "texts": [{"index": 0, "text": "..."}]}`
//! (each listed text replaced whole) or `{"action": "reject", "status": 403, "message": "..."}`
//! (status and message optional: the guard's own by default).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ir::backend::Upstream;

/// The largest answer read from a guard service.
const MAX_ANSWER: usize = 4 << 20;

/// One text a guard is asked about, and where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub scope: &'static str,
    pub text: &'a str,
}

/// What a service decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// Texts (by index) to send instead.
    Mask(Vec<(usize, String)>),
    Reject {
        status: Option<u16>,
        message: Option<String>,
    },
}

/// Who and where, for the webhook.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub guard: &'a str,
    /// `prompt` or `answer`.
    pub phase: &'static str,
    pub identity: &'a str,
    pub route: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAnswer {
    action: String,
    #[serde(default)]
    texts: Vec<Replacement>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Replacement {
    index: usize,
    text: String,
}

/// Reads a webhook's answer; `count` texts were sent.
pub fn webhook_verdict(body: &[u8], count: usize) -> Result<Verdict, String> {
    let a: WebhookAnswer =
        serde_json::from_slice(body).map_err(|e| format!("its answer is not the protocol's: {e}"))?;
    match a.action.as_str() {
        "pass" => Ok(Verdict::Pass),
        "mask" => {
            if let Some(r) = a.texts.iter().find(|r| r.index >= count) {
                return Err(format!("it masked text {} of {count}", r.index));
            }
            Ok(Verdict::Mask(a.texts.into_iter().map(|r| (r.index, r.text)).collect()))
        }
        "reject" => {
            let status = a.status.filter(|s| (400..=599).contains(s));
            Ok(Verdict::Reject { status, message: a.message })
        }
        other => Err(format!("it answered the action {other:?} (pass, mask or reject)")),
    }
}

/// Asks a webhook about `items`.
pub async fn webhook(
    upstream: &Arc<Upstream>,
    authority: &str,
    path: &str,
    timeout: Duration,
    who: Asker<'_>,
    items: &[Item<'_>],
) -> Result<Verdict, String> {
    let client = super::super::services::client().ok_or("no HTTP client")?;
    let origin = super::super::services::origin(upstream).ok_or("its Service has no ready endpoint")?;
    let body = json!({
        "guard": who.guard,
        "phase": who.phase,
        "identity": who.identity,
        "route": who.route,
        "texts": items.iter().map(|i| json!({"scope": i.scope, "text": i.text})).collect::<Vec<_>>(),
    });
    let ask = async {
        let mut resp = client
            .post(format!("{origin}{path}"))
            .header(http::header::HOST, authority)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let mut answer = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if answer.len() + chunk.len() > MAX_ANSWER {
                return Err(format!("its answer is longer than {MAX_ANSWER} bytes"));
            }
            answer.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("it answered {status}"));
        }
        webhook_verdict(&answer, items.len())
    };
    crate::httpkit::deadline::within(timeout, ask, |d| format!("no answer within {d:?}")).await
}

/// The body of a moderation request for `items`.
pub fn moderation_request(model: Option<&str>, items: &[Item<'_>]) -> Value {
    let mut body = json!({"input": items.iter().map(|i| i.text).collect::<Vec<_>>()});
    if let Some(m) = model {
        body["model"] = json!(m);
    }
    body
}

/// Reads a moderation answer: the first category over its threshold (or, with no thresholds,
/// the first flagged category), if any.
pub fn moderation_verdict(answer: &Value, thresholds: &BTreeMap<String, f64>) -> Result<Option<String>, String> {
    let results = answer["results"].as_array().ok_or("its answer has no results")?;
    for r in results {
        if thresholds.is_empty() {
            if r["flagged"].as_bool() == Some(true) {
                let categories = r["categories"].as_object();
                let first = categories.and_then(|c| c.iter().find(|(_, v)| v.as_bool() == Some(true)));
                return Ok(Some(first.map_or_else(|| "flagged".to_string(), |(k, _)| k.clone())));
            }
            continue;
        }
        for (category, threshold) in thresholds {
            if r["category_scores"][category].as_f64().is_some_and(|s| s >= *threshold) {
                return Ok(Some(category.clone()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_answers_are_read_and_bad_ones_refused() {
        assert_eq!(webhook_verdict(br#"{"action":"pass"}"#, 2), Ok(Verdict::Pass));
        assert_eq!(
            webhook_verdict(br#"{"action":"mask","texts":[{"index":1,"text":"x"}]}"#, 2),
            Ok(Verdict::Mask(vec![(1, "x".into())]))
        );
        assert_eq!(
            webhook_verdict(br#"{"action":"reject","status":403,"message":"no"}"#, 2),
            Ok(Verdict::Reject { status: Some(403), message: Some("no".into()) })
        );
        assert_eq!(
            webhook_verdict(br#"{"action":"reject","status":200}"#, 2),
            Ok(Verdict::Reject { status: None, message: None }),
            "a status that is not an error is the guard's own"
        );
        assert!(webhook_verdict(br#"{"action":"mask","texts":[{"index":2,"text":"x"}]}"#, 2).is_err());
        assert!(webhook_verdict(br#"{"action":"allow"}"#, 2).is_err());
        assert!(webhook_verdict(b"<html>", 2).is_err());
    }

    #[test]
    fn moderation_answers_decide_by_flag_or_threshold() {
        let answer = json!({"results": [
            {"flagged": false, "categories": {"violence": false}, "category_scores": {"violence": 0.2, "hate": 0.01}},
            {"flagged": true, "categories": {"violence": true, "hate": false}, "category_scores": {"violence": 0.9, "hate": 0.3}},
        ]});
        assert_eq!(moderation_verdict(&answer, &BTreeMap::new()), Ok(Some("violence".into())));
        let strict: BTreeMap<String, f64> = [("hate".to_string(), 0.25)].into();
        assert_eq!(moderation_verdict(&answer, &strict), Ok(Some("hate".into())));
        let lax: BTreeMap<String, f64> = [("violence".to_string(), 0.95)].into();
        assert_eq!(moderation_verdict(&answer, &lax), Ok(None));
        assert!(moderation_verdict(&json!({"error": {}}), &lax).is_err());
        let body = moderation_request(Some("omni-moderation-latest"), &[Item { scope: "user", text: "a" }]);
        assert_eq!(body, json!({"input": ["a"], "model": "omni-moderation-latest"}));
    }
}
