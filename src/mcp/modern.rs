//! The stateless era (protocol 2026-07-28) on the same endpoint: every request is one
//! self-contained POST without `initialize` or `Mcp-Session-Id`. The request carries its
//! protocol version and client capabilities in `params._meta`, and mirrors them in headers:
//! `MCP-Protocol-Version`, `Mcp-Method` (the JSON-RPC method) and, for `tools/call`,
//! `prompts/get` and `resources/read`, `Mcp-Name` (the tool or prompt name, or the resource
//! URI; non-ASCII values as `=?base64?…?=`). `server/discover` answers what `initialize` would
//! have: the versions spoken and the federated capabilities.
//!
//! Checked in this order, first failure wins, before any target is asked: the `_meta` envelope
//! (`-32602`), the headers against the body (`-32020`, header mismatch), the version
//! (`-32022`, with the versions supported). Errors map to HTTP statuses as the era specifies
//! (400 for those, 404 for an unknown method).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::StatusCode;
use http::request::Parts;
use serde_json::{Map, Value, json};

use super::http::{Answer, reply};
use super::jsonrpc::{self, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError};
use super::session::Session;
use super::{Ctx, SUPPORTED_VERSIONS, input_required, stream_peer};
use crate::httpkit::body::ProxyBody;

pub const VERSIONS: [&str; 1] = ["2026-07-28"];
pub const PROTOCOL_META: &str = "io.modelcontextprotocol/protocolVersion";
pub const CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";
pub const HEADER_MISMATCH: i64 = -32020;
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";

/// The stateless requests of each route share one session: it only remembers which target
/// owns which name (the same for every client: filters are applied per request anyway).
#[derive(Default)]
pub struct Shared {
    by_owner: Mutex<HashMap<String, Arc<Session>>>,
}

impl Shared {
    fn session(&self, owner: &str) -> Arc<Session> {
        let mut map = self.by_owner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(owner) {
            return s.clone();
        }
        map.entry(owner.to_string()).or_insert_with(|| Session::detached(owner, VERSIONS[0])).clone()
    }
}

/// Whether a request without a session speaks this era: a modern version in its header, or a
/// protocol version in its `_meta` (which the header must then agree with).
pub fn applies(parts: &Parts, params: Option<&Map<String, Value>>) -> bool {
    let header = parts.headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok());
    header.is_some_and(|v| VERSIONS.contains(&v))
        || params.and_then(|p| p.get("_meta")).and_then(|m| m.get(PROTOCOL_META)).is_some()
}

/// The HTTP status of an answer carrying `code`.
fn status_of(code: i64) -> StatusCode {
    match code {
        PARSE_ERROR | INVALID_REQUEST | INVALID_PARAMS | HEADER_MISMATCH | UNSUPPORTED_PROTOCOL_VERSION => {
            StatusCode::BAD_REQUEST
        }
        METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// `Mcp-Name` as the client meant it: `=?base64?…?=` decoded, anything else as sent.
fn decode_name(v: &str) -> Option<String> {
    match v.strip_prefix("=?base64?").and_then(|r| r.strip_suffix("?=")) {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok().and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_string()),
    }
}

/// The envelope, header and version checks.
fn check(parts: &Parts, method: &str, params: Option<&Map<String, Value>>) -> Result<(), RpcError> {
    let Some(meta) = params.and_then(|p| p.get("_meta")).and_then(Value::as_object) else {
        return Err(RpcError::invalid_params(format!(
            "params._meta must be an object carrying the required {PROTOCOL_META:?} and {CAPABILITIES_META:?} envelope keys"
        )));
    };
    let missing: Vec<&str> =
        [PROTOCOL_META, CAPABILITIES_META].into_iter().filter(|k| !meta.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Err(RpcError::invalid_params(format!(
            "params._meta is missing the required envelope key(s): {}",
            missing.join(", ")
        )));
    }
    let version = &meta[PROTOCOL_META];
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header(VERSION_HEADER).is_none_or(|h| Some(h) != version.as_str()) {
        return Err(RpcError::new(
            HEADER_MISMATCH,
            "MCP-Protocol-Version header does not match the request envelope's protocol version",
        ));
    }
    if header(METHOD_HEADER) != Some(method) {
        return Err(RpcError::new(HEADER_MISMATCH, "Mcp-Method header does not match the request body's method"));
    }
    let name_key = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(key) = name_key
        && let Some(body_value) = params.and_then(|p| p.get(key)).filter(|v| !v.is_null())
    {
        let sent = header(NAME_HEADER).and_then(decode_name);
        if sent.as_deref() != body_value.as_str() {
            return Err(RpcError::new(
                HEADER_MISMATCH,
                format!("Mcp-Name header does not match the request body's {key:?} parameter"),
            ));
        }
    }
    let Some(v) = version.as_str() else {
        return Err(RpcError::invalid_params(format!("params._meta[{PROTOCOL_META:?}] must be a string")));
    };
    if !VERSIONS.contains(&v) {
        return Err(RpcError::new(UNSUPPORTED_PROTOCOL_VERSION, format!("unsupported protocol version {v:?}"))
            .with_data(json!({"supported": supported(), "requested": v})));
    }
    Ok(())
}

fn supported() -> Vec<&'static str> {
    VERSIONS.iter().chain(SUPPORTED_VERSIONS.iter()).copied().collect()
}

/// One stateless request.
pub(super) async fn serve(
    ctx: &Ctx,
    parts: &Parts,
    id: &Value,
    method: &str,
    mut params: Option<Map<String, Value>>,
    answer: Answer,
) -> http::Response<ProxyBody> {
    let outcome = match check(parts, method, params.as_ref()) {
        Err(e) => Err(e),
        Ok(()) => {
            let caps = params.as_ref().and_then(|p| p.get("_meta")).and_then(|m| m.get(CAPABILITIES_META));
            let takes_requests = super::session::declares_requests(caps);
            // The envelope is ours: targets get the request without it.
            if let Some(p) = params.as_mut()
                && let Some(Value::Object(meta)) = p.get_mut("_meta")
            {
                meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
                if meta.is_empty() {
                    p.remove("_meta");
                }
            }
            match method {
                "server/discover" => {
                    let seen = super::observed::Observed::begin(ctx, method, None);
                    let found = seen.run(discover(ctx)).await;
                    seen.end(ctx, None, None);
                    Ok(found)
                }
                "subscriptions/listen" if !super::http::accepts_sse(parts) => Err(RpcError::new(
                    INVALID_REQUEST,
                    "subscriptions/listen answers with a stream: send Accept: text/event-stream",
                )),
                "subscriptions/listen" => match ctx.state.listeners.listen(&ctx.owner, id, params.as_ref()) {
                    Ok(rx) => return super::legacy::event_stream(rx),
                    Err(e) => Err(e),
                },
                "initialize" => {
                    Err(RpcError::new(METHOD_NOT_FOUND, "initialize belongs to the session era; use server/discover"))
                }
                _ => {
                    let session = ctx.state.modern.session(&ctx.owner);
                    let progress_token = stream_peer::progress_token(params.as_ref());
                    let retry = input_required::is_retry(params.as_ref());
                    if (retry && stream_peer::interactive(method))
                        || stream_peer::relays(method, takes_requests, params.as_ref())
                    {
                        let call = if retry {
                            input_required::resume(ctx, method, params.as_ref())
                        } else {
                            Ok(input_required::start(ctx, session, method, params))
                        };
                        match call {
                            Err(e) => Err(e),
                            Ok(call) if super::http::accepts_sse(parts) => {
                                return streamed(ctx, id, method, call, progress_token);
                            }
                            Ok(call) => call.next(ctx, None).await,
                        }
                    } else {
                        super::http::request(ctx, &session, method, params, None).await
                    }
                }
            }
        }
    };
    let (status, payload) = match outcome {
        Ok(result) => (StatusCode::OK, jsonrpc::result(id, complete(method, result))),
        Err(e) => (status_of(e.code), jsonrpc::error(id, &e)),
    };
    reply(status, answer, &payload, None)
}

/// One round of an interactive call, answered as an SSE stream: the target's notifications
/// (progress under the request's own token) as they come, then the round's result.
fn streamed(
    ctx: &Ctx,
    id: &Value,
    method: &str,
    call: input_required::Call,
    progress_token: Option<Value>,
) -> http::Response<ProxyBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(super::legacy::QUEUE);
    let (ctx, id, method) = (ctx.clone(), id.clone(), method.to_string());
    tokio::spawn(async move {
        let notes = input_required::Notes { stream: tx.clone(), progress_token };
        let payload = match call.next(&ctx, Some(&notes)).await {
            Ok(result) => jsonrpc::result(&id, complete(&method, result)),
            Err(e) => jsonrpc::error(&id, &e),
        };
        let _ = tx.send(stream_peer::event(&payload)).await;
    });
    super::legacy::event_stream(rx)
}

/// A result in this era's shape: `resultType` (`complete` unless the call asks the client for
/// input), and for complete listings, reads and discovery the caching hints:
/// `cacheScope: private`, `ttlMs: 0` (targets and their answers can change at any time, and
/// what a caller sees will depend on who it is).
fn complete(method: &str, mut result: Value) -> Value {
    if let Some(o) = result.as_object_mut() {
        let kind = o.entry("resultType").or_insert(json!("complete"));
        if kind == "complete"
            && matches!(
                method,
                "server/discover"
                    | "tools/list"
                    | "prompts/list"
                    | "resources/list"
                    | "resources/templates/list"
                    | "resources/read"
            )
        {
            o.entry("cacheScope").or_insert(json!("private"));
            o.entry("ttlMs").or_insert(json!(0));
        }
    }
    result
}

async fn discover(ctx: &Ctx) -> Value {
    json!({
        "supportedVersions": supported(),
        "capabilities": ctx.federation().capabilities().await,
        "_meta": {SERVER_INFO_META: {"name": "sluice", "version": env!("CARGO_PKG_VERSION")}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::post("/mcp");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn params(name: &str) -> Map<String, Value> {
        json!({"name": name, "_meta": {PROTOCOL_META: "2026-07-28", CAPABILITIES_META: {}}})
            .as_object()
            .cloned()
            .expect("object")
    }

    #[test]
    fn the_ladder_checks_envelope_headers_then_version() {
        let ok = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "t_echo")];
        assert!(check(&parts(&ok), "tools/call", Some(&params("t_echo"))).is_ok());
        let b64 = format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode("t_éclair"));
        let enc = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", b64.as_str())];
        assert!(check(&parts(&enc), "tools/call", Some(&params("t_éclair"))).is_ok());
        let wrong_name = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "x")];
        assert_eq!(check(&parts(&wrong_name), "tools/call", Some(&params("t_echo"))).map_err(|e| e.code), Err(-32020));
        let wrong_method = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list")];
        assert_eq!(check(&parts(&wrong_method), "tools/call", Some(&params("a"))).map_err(|e| e.code), Err(-32020));
        assert_eq!(check(&parts(&ok), "tools/call", None).map_err(|e| e.code), Err(-32602));
        let mut old = params("t_echo");
        old["_meta"][PROTOCOL_META] = json!("2099-01-01");
        let h = [("mcp-protocol-version", "2099-01-01"), ("mcp-method", "tools/call"), ("mcp-name", "t_echo")];
        let e = check(&parts(&h), "tools/call", Some(&old)).expect_err("unsupported");
        assert_eq!(e.code, -32022);
        assert_eq!(e.data.as_ref().map(|d| d["requested"].clone()), Some(json!("2099-01-01")));
        assert_eq!(status_of(-32022), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(-32601), StatusCode::NOT_FOUND);
    }
}
