//! The downstream streamable HTTP transport (the 2025-11-25 era): JSON-RPC over POST, answered
//! as JSON or as a one-event SSE stream; `Mcp-Session-Id` issued at `initialize` and required
//! after; DELETE ends a session; GET within a session opens its event stream (resumable with
//! `Last-Event-ID`). Calls of a client that takes server requests are answered as SSE streams
//! carrying the target's requests and notifications before the response.
//!
//! Every wrong method, header or body is answered here, before any upstream is involved.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::federation::{ListKind, Owner};
use super::jsonrpc::{self, INVALID_REQUEST, METHOD_NOT_FOUND, Message, RpcError};
use super::session::Session;
use super::stream_peer::{self, SessionPeer, StreamPeer};
use super::upstream::relay::ClientPeer;
use super::{Ctx, MAX_MESSAGE_BYTES, SESSION_HEADER, SUPPORTED_VERSIONS};
use super::{legacy, modern};
use crate::httpkit::body::{self, ProxyBody};

const PROTOCOL_HEADER: &str = "mcp-protocol-version";

pub async fn serve(ctx: &Ctx, parts: &Parts, body: Incoming) -> Response<ProxyBody> {
    // Without `Mcp-Session-Id`: possibly a legacy HTTP+SSE client (its messages carry
    // `?session_id=` from the endpoint its stream named).
    let sessionless = parts.headers.get(SESSION_HEADER).is_none();
    let legacy_session = if sessionless { legacy::session_param(parts) } else { None };
    match (&parts.method, legacy_session) {
        (&Method::POST, Some(id)) => legacy::message(ctx, id, body).await,
        (&Method::POST, None) => post(ctx, parts, body).await,
        // A legacy HTTP+SSE client opening its stream (a streamable HTTP client would send its
        // session id: it is offered no stream).
        (&Method::GET, _) if sessionless && accepts_sse(parts) => legacy::open(ctx, parts),
        (&Method::GET, _) if !sessionless => get_stream(ctx, parts),
        (&Method::DELETE, _) => delete(ctx, parts),
        _ => {
            let mut resp = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "this MCP endpoint takes POST, DELETE, and GET within a session (its event stream)\n",
            );
            resp.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            resp
        }
    }
}

/// GET within a session: its event stream, carrying what targets send between calls (their
/// requests, logging, list changes); with `Last-Event-ID`, the kept events after that one
/// come first.
fn get_stream(ctx: &Ctx, parts: &Parts) -> Response<ProxyBody> {
    let session = match session_header(parts) {
        Err(e) => return rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &e),
        Ok(None) => return rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &missing_session()),
        Ok(Some(id)) => match ctx.state.sessions.get(id, (&ctx.owner, &ctx.client), ctx.session_key()) {
            None => return rpc_status(StatusCode::NOT_FOUND, &Value::Null, &unknown_session()),
            Some(s) => s,
        },
    };
    if !accepts_sse(parts) {
        let e = RpcError::new(INVALID_REQUEST, "Not Acceptable: the event stream needs Accept: text/event-stream");
        return rpc_status(StatusCode::NOT_ACCEPTABLE, &Value::Null, &e);
    }
    let last = match parts.headers.get("last-event-id").map(|v| v.to_str().ok().and_then(|s| s.trim().parse().ok())) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            let e = RpcError::new(INVALID_REQUEST, "Last-Event-ID must be an event id this endpoint sent (a number)");
            return rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &e);
        }
    };
    legacy::event_stream(session.open_stream(last))
}

fn delete(ctx: &Ctx, parts: &Parts) -> Response<ProxyBody> {
    match session_header(parts) {
        Err(e) => rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &e),
        Ok(None) => rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &missing_session()),
        Ok(Some(id)) if ctx.state.sessions.remove(id, &ctx.owner, ctx.session_key()) => {
            Response::builder().status(StatusCode::NO_CONTENT).body(body::empty()).unwrap_or_else(|_| internal())
        }
        Ok(Some(_)) => rpc_status(StatusCode::NOT_FOUND, &Value::Null, &unknown_session()),
    }
}

pub(super) fn accepts_sse(parts: &Parts) -> bool {
    parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/event-stream"))
}

/// What the client accepts: JSON, SSE, or (answered 406) neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    Json,
    Sse,
}

fn negotiate(parts: &Parts) -> Option<Answer> {
    let Some(accept) = parts.headers.get(ACCEPT) else { return Some(Answer::Json) };
    let accept = accept.to_str().unwrap_or_default().to_ascii_lowercase();
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or_default().trim()).collect();
    if types.iter().any(|t| matches!(*t, "application/json" | "application/*" | "*/*")) {
        Some(Answer::Json)
    } else if types.contains(&"text/event-stream") {
        Some(Answer::Sse)
    } else {
        None
    }
}

async fn post(ctx: &Ctx, parts: &Parts, incoming: Incoming) -> Response<ProxyBody> {
    let Some(answer) = negotiate(parts) else {
        let e = RpcError::new(INVALID_REQUEST, "Not Acceptable: accept application/json or text/event-stream");
        return rpc_status(StatusCode::NOT_ACCEPTABLE, &Value::Null, &e);
    };
    if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if ct.split(';').next().unwrap_or_default().trim() != "application/json" {
            let e = RpcError::new(INVALID_REQUEST, "Unsupported Media Type: send application/json");
            return rpc_status(StatusCode::UNSUPPORTED_MEDIA_TYPE, &Value::Null, &e);
        }
    }
    let bytes = match read_limited(incoming).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let message = match jsonrpc::parse(&bytes) {
        Ok(m) => m,
        Err(rejected) => return rpc_status(StatusCode::BAD_REQUEST, &rejected.id, &rejected.error),
    };
    if parts.headers.get(SESSION_HEADER).is_none() {
        match &message {
            Message::Request { id, method, params } if modern::applies(parts, params.as_ref()) => {
                return modern::serve(ctx, parts, id, method, params.clone(), answer).await;
            }
            // The stateless era defines no client notifications: taken and dropped.
            Message::Notification { .. } | Message::Response { .. }
                if parts
                    .headers
                    .get(PROTOCOL_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| modern::VERSIONS.contains(&v)) =>
            {
                return Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .body(body::empty())
                    .unwrap_or_else(|_| internal());
            }
            _ => {}
        }
    }
    if let Some(v) = parts.headers.get(PROTOCOL_HEADER) {
        let v = v.to_str().unwrap_or_default();
        if !SUPPORTED_VERSIONS.contains(&v) {
            let id = match &message {
                Message::Request { id, .. } => id.clone(),
                Message::Notification { .. } | Message::Response { .. } => Value::Null,
            };
            let e = RpcError::new(
                INVALID_REQUEST,
                format!("unsupported MCP-Protocol-Version {v:?}; supported: {}", SUPPORTED_VERSIONS.join(", ")),
            );
            return rpc_status(StatusCode::BAD_REQUEST, &id, &e);
        }
    }
    let session_id = match session_header(parts) {
        Ok(s) => s,
        Err(e) => return rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &e),
    };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // Notifications and responses need a session, and get no answer; a response goes to
        // the call that relayed the request it answers.
        other @ (Message::Notification { .. } | Message::Response { .. }) => {
            return match session_id.map(|s| ctx.state.sessions.get(s, (&ctx.owner, &ctx.client), ctx.session_key())) {
                None => rpc_status(StatusCode::BAD_REQUEST, &Value::Null, &missing_session()),
                Some(None) => rpc_status(StatusCode::NOT_FOUND, &Value::Null, &unknown_session()),
                Some(Some(session)) => {
                    match other {
                        Message::Response { id, outcome } => {
                            let waited = session.answer(&id, outcome);
                            if !waited {
                                tracing::debug!(id = %id, "MCP client answered a request nobody waits for");
                            }
                        }
                        Message::Notification { method, params } if method == "notifications/cancelled" => {
                            session.cancel_request(params.as_ref());
                        }
                        _ => {}
                    }
                    Response::builder().status(StatusCode::ACCEPTED).body(body::empty()).unwrap_or_else(|_| internal())
                }
            };
        }
    };
    if method == "initialize" {
        if session_id.is_some() {
            let e = RpcError::new(INVALID_REQUEST, "initialize starts a session; send it without Mcp-Session-Id");
            return rpc_status(StatusCode::BAD_REQUEST, &id, &e);
        }
        return initialize(ctx, &id, params.as_ref(), answer).await;
    }
    let session = match session_id.map(|s| ctx.state.sessions.get(s, (&ctx.owner, &ctx.client), ctx.session_key())) {
        None => return rpc_status(StatusCode::BAD_REQUEST, &id, &missing_session()),
        Some(None) => return rpc_status(StatusCode::NOT_FOUND, &id, &unknown_session()),
        Some(Some(s)) => s,
    };
    if accepts_sse(parts) && stream_peer::relays(&method, session.takes_requests(), params.as_ref()) {
        return relaying(ctx, session, id, method, params);
    }
    // A cancelled request's POST gets an error the client will not wait for.
    let work = request(ctx, &session, &method, params, None);
    let outcome = session.cancellable(&id, work).await.unwrap_or_else(|| Err(cancelled_error()));
    let payload = match outcome {
        Ok(result) => jsonrpc::result(&id, result),
        Err(e) => jsonrpc::error(&id, &e),
    };
    reply(StatusCode::OK, answer, &payload, None)
}

/// The answer to a request the client cancelled (if it still reads one).
pub(super) fn cancelled_error() -> RpcError {
    RpcError::new(jsonrpc::REQUEST_CANCELLED, "Request cancelled by the client")
}

/// A call whose client takes server requests: answered as an SSE stream carrying the target's
/// requests and notifications, then the call's response. The call goes on in a task of its own
/// (the client's answers to those requests come in other POSTs).
fn relaying(
    ctx: &Ctx,
    session: Arc<Session>,
    id: Value,
    method: String,
    params: Option<serde_json::Map<String, Value>>,
) -> Response<ProxyBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(legacy::QUEUE);
    let peer = StreamPeer {
        stream: tx.clone(),
        session: session.clone(),
        progress_token: stream_peer::progress_token(params.as_ref()),
        background: Some(Arc::new(SessionPeer { session: session.clone() })),
    };
    let ctx = ctx.clone();
    tokio::spawn(async move {
        // Cancelled, or the client hung up: the call is dropped (the target is told) and the
        // stream ends without a response.
        let work = async {
            tokio::select! {
                outcome = request(&ctx, &session, &method, params, Some(Arc::new(peer))) => Some(outcome),
                () = tx.closed() => None,
            }
        };
        let payload = match session.cancellable(&id, work).await.flatten() {
            Some(Ok(result)) => jsonrpc::result(&id, result),
            Some(Err(e)) => jsonrpc::error(&id, &e),
            None => return,
        };
        let _ = tx.send(stream_peer::event(&payload)).await;
    });
    legacy::event_stream(rx)
}

/// The version agreed on and the `initialize` result.
pub(super) async fn initialize_result(
    ctx: &Ctx,
    params: Option<&serde_json::Map<String, Value>>,
) -> Result<(&'static str, Value), RpcError> {
    let Some(requested) = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("initialize needs params.protocolVersion (a string)"));
    };
    let version = SUPPORTED_VERSIONS.iter().copied().find(|v| *v == requested).unwrap_or(SUPPORTED_VERSIONS[0]);
    let capabilities = ctx.federation().capabilities().await;
    let result = json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "serverInfo": {"name": "sluice", "version": env!("CARGO_PKG_VERSION")},
    });
    Ok((version, result))
}

async fn initialize(
    ctx: &Ctx,
    id: &Value,
    params: Option<&serde_json::Map<String, Value>>,
    answer: Answer,
) -> Response<ProxyBody> {
    // Answered before the session exists, so that a refused initialize leaves nothing behind.
    let seen = super::observed::Observed::begin(ctx, "initialize", params);
    let out = seen.run(initialize_result(ctx, params)).await;
    seen.end(ctx, None, out.as_ref().err());
    let (version, result) = match out {
        Ok(x) => x,
        Err(e) => return reply(StatusCode::OK, answer, &jsonrpc::error(id, &e), None),
    };
    let takes_requests = super::session::declares_requests(params.and_then(|p| p.get("capabilities")));
    let Some(session) =
        ctx.state.sessions.create((&ctx.owner, &ctx.client), version, takes_requests, ctx.session_key())
    else {
        let e = RpcError::new(jsonrpc::INTERNAL_ERROR, "too many MCP sessions are open; try again later");
        return rpc_status(StatusCode::SERVICE_UNAVAILABLE, id, &e);
    };
    reply(StatusCode::OK, answer, &jsonrpc::result(id, result), Some(&session.id))
}

/// A request within a session, counted by method, target, tool and result.
pub(super) async fn request(
    ctx: &Ctx,
    session: &Session,
    method: &str,
    params: Option<serde_json::Map<String, Value>>,
    client: Option<Arc<dyn ClientPeer>>,
) -> Result<Value, RpcError> {
    let seen = super::observed::Observed::begin(ctx, method, params.as_ref());
    let mut called = None;
    let out = seen.run(dispatch(ctx, session, method, params, client, &mut called)).await;
    seen.end(ctx, called.as_ref(), out.as_ref().err());
    out
}

/// A request within a session; `called` learns the owner of a called tool.
async fn dispatch(
    ctx: &Ctx,
    session: &Session,
    method: &str,
    params: Option<serde_json::Map<String, Value>>,
    client: Option<Arc<dyn ClientPeer>>,
    called: &mut Option<Owner>,
) -> Result<Value, RpcError> {
    let fed = ctx.federation();
    match method {
        "ping" => Ok(json!({})),
        "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list" => {
            let Some(kind) = ListKind::ALL.into_iter().find(|k| k.method() == method) else {
                return Err(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}")));
            };
            let cursor = match params.as_ref().and_then(|p| p.get("cursor")) {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) => Some(c.as_str()),
                Some(_) => return Err(RpcError::invalid_params("invalid cursor: params.cursor must be a string")),
            };
            let listing = fed.list(kind, cursor).await?;
            session.remember(kind, listing.owners.clone(), cursor.is_none());
            Ok(listing.result())
        }
        "tools/call" | "prompts/get" => {
            let params = params.unwrap_or_default();
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return Err(RpcError::invalid_params(format!("{method} needs params.name (a string)")));
            };
            let arguments = match params.get("arguments") {
                None | Some(Value::Null) => None,
                Some(Value::Object(a)) => Some(a.clone()),
                Some(_) => return Err(RpcError::invalid_params("params.arguments must be an object")),
            };
            let kind = if method == "tools/call" { ListKind::Tools } else { ListKind::Prompts };
            let mut known = session.route(kind, name);
            if known.is_none() {
                // A client that calls without listing first: learn every name once, for this
                // call and the next ones, instead of listing every target on each call.
                let owners = fed.owners(kind).await?;
                known = owners.get(name).cloned();
                session.remember(kind, owners, true);
            }
            if kind == ListKind::Tools {
                called.clone_from(&known);
                fed.call(known, name, arguments, client).await
            } else {
                fed.get_prompt(known, name, arguments, client).await
            }
        }
        "resources/read" => {
            let Some(uri) = params.as_ref().and_then(|p| p.get("uri")).and_then(Value::as_str) else {
                return Err(RpcError::invalid_params("resources/read needs params.uri (a string)"));
            };
            fed.read_resource(uri, client).await
        }
        "completion/complete" => {
            let params = params.unwrap_or_default();
            if !params.get("argument").is_some_and(Value::is_object) {
                return Err(RpcError::invalid_params("completion/complete needs params.argument (an object)"));
            }
            let prompt = params.get("ref").and_then(|r| r.get("name")).and_then(Value::as_str);
            let known = prompt.and_then(|p| session.route(ListKind::Prompts, p));
            fed.complete(known, params).await
        }
        other => Err(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    }
}

pub(super) async fn read_limited(incoming: Incoming) -> Result<Bytes, Response<ProxyBody>> {
    body::read_limited(incoming, MAX_MESSAGE_BYTES).await.map_err(|e| {
        let status = match e {
            body::ReadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            body::ReadError::Failed(_) => StatusCode::BAD_REQUEST,
        };
        rpc_status(status, &Value::Null, &RpcError::new(INVALID_REQUEST, e.to_string()))
    })
}

/// The `Mcp-Session-Id` header, if sent; a malformed one is answered 400.
fn session_header(parts: &Parts) -> Result<Option<&str>, RpcError> {
    match parts.headers.get(SESSION_HEADER) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() => Ok(Some(s)),
            _ => Err(RpcError::new(INVALID_REQUEST, "Mcp-Session-Id must be visible ASCII")),
        },
    }
}

fn missing_session() -> RpcError {
    RpcError::new(INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required (send initialize first)")
}

pub(super) fn unknown_session() -> RpcError {
    RpcError::new(INVALID_REQUEST, "Session not found: initialize a new session")
}

/// A JSON-RPC error with an HTTP status other than 200, always as JSON.
pub(crate) fn rpc_status(status: StatusCode, id: &Value, e: &RpcError) -> Response<ProxyBody> {
    reply(status, Answer::Json, &jsonrpc::error(id, e), None)
}

pub(super) fn reply(status: StatusCode, answer: Answer, payload: &Value, session: Option<&str>) -> Response<ProxyBody> {
    let (content_type, bytes) = match answer {
        Answer::Json => ("application/json", bytes::Bytes::from(payload.to_string())),
        Answer::Sse => ("text/event-stream", stream_peer::event(payload)),
    };
    let mut b = Response::builder().status(status).header(CONTENT_TYPE, content_type);
    if answer == Answer::Sse {
        b = b.header(http::header::CACHE_CONTROL, "no-cache");
    }
    if let Some(id) = session {
        b = b.header(SESSION_HEADER, id);
    }
    b.body(body::full(bytes)).unwrap_or_else(|_| internal())
}

fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body::full(text))
        .unwrap_or_else(|_| internal())
}

fn internal() -> Response<ProxyBody> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
