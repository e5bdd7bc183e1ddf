//! Trace context for calls to targets (docs/observability.md, Traces). Each call to a target is
//! a client span, the child of the MCP message being handled, and the target gets that span as
//! its parent in `params._meta.traceparent` / `tracestate` (SEP-414), whatever its transport.
//!
//! The message's span and the call's `_meta` keys ride in task-locals: they cross the pool and
//! both client libraries as ambient context of the task handling the message (as a deadline
//! would), rather than as one more argument of every upstream method. A call made from another
//! task (an interactive call's background round) has no parent and sends no trace context.

use std::future::Future;

use serde_json::{Map, Value};

use crate::metrics::trace::{Attribute, Kind, TraceSpan};

tokio::task_local! {
    /// The span of the MCP message being handled.
    static MESSAGE: TraceSpan;
    /// The `_meta` trace keys of the call to a target under way.
    static OUTGOING: Map<String, Value>;
}

/// Runs `fut` (the handling of one message) with `span` as the parent of its target calls.
pub async fn within<F: Future>(span: Option<TraceSpan>, fut: F) -> F::Output {
    match span {
        Some(span) => MESSAGE.scope(span, fut).await,
        None => fut.await,
    }
}

/// Whether the task is handling a traced message (then calls to targets are spans).
pub fn active() -> bool {
    MESSAGE.try_with(|_| ()).is_ok()
}

/// Runs one call to `target` (`method`, and the tool, prompt or resource it names) in a client
/// span of its own whose context is sent with it; the span records the call's failure.
pub async fn call<T, E: std::fmt::Display>(
    target: &str,
    method: &'static str,
    name: Option<&str>,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Ok(span) = MESSAGE.try_with(|m| {
        let mut attributes =
            vec![Attribute::new("mcp.method.name", method), Attribute::new("sluice.mcp.target", target.to_string())];
        let key = match method {
            "tools/call" => Some("gen_ai.tool.name"),
            "prompts/get" => Some("gen_ai.prompt.name"),
            "resources/read" => Some("mcp.resource.uri"),
            _ => None,
        };
        if let (Some(key), Some(n)) = (key, name) {
            attributes.push(Attribute::new(key, n.to_string()));
        }
        // Named as the conventions name it: the method, and the tool or prompt it calls.
        let title = match name {
            Some(n) if method != "resources/read" => format!("{method} {n}"),
            _ => method.to_string(),
        };
        m.child(title, Kind::Client, attributes)
    }) else {
        return fut.await;
    };
    let meta: Map<String, Value> = span.context_pairs().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let out = OUTGOING.scope(meta, fut).await;
    if let Err(e) = &out {
        span.fail(e.to_string());
    }
    span.end();
    out
}

/// A policy decision about the message being handled, as an event on its span.
pub fn note_decision(stage: &'static str, check: &'static str, result: &'static str) {
    let _ = MESSAGE.try_with(|m| {
        let attributes = vec![
            Attribute::new("sluice.policy.stage", stage),
            Attribute::new("sluice.policy.check", check),
            Attribute::new("sluice.policy.result", result),
        ];
        m.event("policy decision", attributes);
    });
}

/// The trace keys to put in the `_meta` of the request being sent, when it is part of a trace.
pub fn outgoing() -> Option<Map<String, Value>> {
    OUTGOING.try_with(Map::clone).ok()
}

/// Adds the trace keys of the call under way to `params._meta` (a JSON-RPC request's params),
/// replacing any the caller put there: the target's parent is the gateway's span.
pub fn add_to(params: &mut Value) {
    let Some(keys) = outgoing() else { return };
    if !params.is_object() {
        return;
    }
    if !params.get("_meta").is_some_and(Value::is_object) {
        params["_meta"] = Value::Object(Map::new());
    }
    if let Some(Value::Object(meta)) = params.get_mut("_meta") {
        meta.extend(keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_message_span_nothing_is_sent() {
        let out: Result<Option<Map<String, Value>>, String> =
            call("t", "tools/call", Some("x"), async { Ok(outgoing()) }).await;
        assert_eq!(out, Ok(None));
        let mut params = serde_json::json!({"name": "x"});
        add_to(&mut params);
        assert_eq!(params, serde_json::json!({"name": "x"}));
    }

    #[tokio::test]
    async fn the_keys_of_a_call_join_the_params_meta() {
        let keys: Map<String, Value> = [("traceparent".to_string(), Value::from("00-ab-cd-01"))].into_iter().collect();
        let mut params = serde_json::json!({"name": "x", "_meta": {"progressToken": 3}});
        OUTGOING.scope(keys, async { add_to(&mut params) }).await;
        assert_eq!(
            params,
            serde_json::json!({"name": "x", "_meta": {"progressToken": 3, "traceparent": "00-ab-cd-01"}})
        );
    }
}
