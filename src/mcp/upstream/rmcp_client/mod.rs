//! The one module that names `rmcp`: sessions over stdio (a child process) and streamable
//! HTTP, driven by rmcp's client, seen by the rest of Sluice as [`McpUpstream`]; legacy
//! HTTP+SSE targets (no rmcp client exists for them) are opened by [`super::sse_client`].
//! [`handler`] is Sluice as rmcp's client handler; [`lenient`] its HTTP client.

mod handler;
mod lenient;
mod ordered;

use std::process::Stdio;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotificationParam, ClientRequest, CompleteRequestParams,
    GetPromptRequest, GetPromptRequestParams, InputResponses, PaginatedRequestParams, ReadResourceRequest,
    ReadResourceRequestParams,
};
use rmcp::serve_client;
use rmcp::service::{PeerRequestOptions, RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Map, Value, json};

use self::handler::Handler;
use self::lenient::Lenient;
use self::ordered::Ordered;
use super::http_client::{header_map, reqwest_client};
use super::relay::Relay;
use super::{BoxFuture, Connector, ListKind, McpUpstream, Page, UpstreamError};
use crate::ir::mcp::{McpTargetIr, McpTransport};

/// What a stdio target gets of the gateway's environment (besides its configured `env`).
const INHERITED_ENV: [&str; 5] = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"];

struct Session {
    service: RunningService<RoleClient, Handler>,
    /// Becomes `true` when the transport has closed (see [`McpUpstream::close`]).
    closed: tokio::sync::watch::Receiver<bool>,
}

/// Opens rmcp client sessions.
pub struct RmcpConnector;

impl Connector for RmcpConnector {
    fn connect(
        &self,
        target: Arc<McpTargetIr>,
        relay: Arc<Relay>,
    ) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>> {
        Box::pin(async move {
            let handler = Handler { relay: relay.clone() };
            // What the HTTP client last failed with, in full (rmcp keeps only the outer message).
            let last_error = Arc::new(std::sync::Mutex::new(None));
            let closed = Arc::new(tokio::sync::watch::Sender::new(false));
            let closed_rx = closed.subscribe();
            let service = match &target.transport {
                McpTransport::Stdio { command, args, env } => {
                    let mut cmd = tokio::process::Command::new(command);
                    // A clean environment: what the gateway's own holds (keys, tokens) is not
                    // the target's; only what a program needs to run, and what the config lists.
                    cmd.env_clear();
                    for name in INHERITED_ENV {
                        if let Some(v) = std::env::var_os(name) {
                            cmd.env(name, v);
                        }
                    }
                    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(true);
                    let (process, _) = TokioChildProcess::builder(cmd)
                        .stderr(Stdio::inherit())
                        .spawn()
                        .map_err(|e| UpstreamError::Unavailable(format!("cannot start {command:?}: {e}")))?;
                    serve_client(handler, Ordered { inner: process, relay, closed }).await
                }
                McpTransport::StreamableHttp { url } => {
                    let headers = header_map(&target.headers)?.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
                    let mut config =
                        StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers);
                    // The SDK reads SSE within this bound (an event that never ends included), as
                    // Sluice reads its other peers' streams; a JSON answer within 16 MiB (its default).
                    config.max_sse_event_size = crate::httpkit::sse_bounds::MAX_EVENT;
                    let client = Lenient { client: reqwest_client(&target)?, last_error: last_error.clone() };
                    let transport = StreamableHttpClientTransport::with_client(client, config);
                    serve_client(handler, Ordered { inner: transport, relay, closed }).await
                }
                McpTransport::Unresolved { reason } => return Err(UpstreamError::Unavailable(reason.clone())),
                McpTransport::Sse { url } => {
                    let headers = header_map(&target.headers)?;
                    let session =
                        super::sse_client::connect(reqwest_client(&target)?, url, headers, handler.relay).await?;
                    return Ok(Arc::new(session) as Arc<dyn McpUpstream>);
                }
            };
            let service = service.map_err(|e| {
                let cause = last_error.lock().unwrap_or_else(|p| p.into_inner()).take();
                let why = cause.unwrap_or_else(|| super::with_causes(&e));
                UpstreamError::Unavailable(format!("initialize failed: {why}"))
            })?;
            Ok(Arc::new(Session { service, closed: closed_rx }) as Arc<dyn McpUpstream>)
        })
    }
}

/// Rounds of `input_required` a call may take before Sluice gives up on it.
const INPUT_ROUNDS: usize = 10;

/// A call that a target may answer `input_required` (SEP-2322): sent again with the client's
/// answers until it completes.
#[derive(Clone)]
enum Call {
    Tool(CallToolRequestParams),
    Resource(ReadResourceRequestParams),
    Prompt(GetPromptRequestParams),
}

impl Call {
    fn request(&self) -> ClientRequest {
        match self.clone() {
            Call::Tool(p) => ClientRequest::CallToolRequest(CallToolRequest::new(p)),
            Call::Resource(p) => ClientRequest::ReadResourceRequest(ReadResourceRequest::new(p)),
            Call::Prompt(p) => ClientRequest::GetPromptRequest(GetPromptRequest::new(p)),
        }
    }

    fn answered(&mut self, responses: Option<InputResponses>, state: Option<String>) {
        match self {
            Call::Tool(p) => (p.input_responses, p.request_state) = (responses, state),
            Call::Resource(p) => (p.input_responses, p.request_state) = (responses, state),
            Call::Prompt(p) => (p.input_responses, p.request_state) = (responses, state),
        }
    }
}

impl Session {
    /// Runs a call to completion. A target answering `input_required` has its input requests
    /// relayed to the client (as the requests of a session-era client, or again as
    /// `input_required` for a stateless one) and the call is sent again with the answers and
    /// the target's `requestState`.
    async fn call(&self, mut call: Call) -> Result<Value, UpstreamError> {
        for _ in 0..INPUT_ROUNDS {
            let result = self.cancellable(call.request()).await?;
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(result);
            }
            let relay = &self.service.service().relay;
            let mut responses = InputResponses::new();
            if let Some(Value::Object(asks)) = result.get("inputRequests") {
                for (key, ask) in asks {
                    let method = ask.get("method").and_then(Value::as_str).unwrap_or_default();
                    let params = ask.get("params").cloned().unwrap_or_else(|| json!({}));
                    let answer = relay.request(method, params).await.map_err(|e| UpstreamError::Rpc {
                        code: e.code,
                        message: e.message,
                        data: e.data,
                    })?;
                    responses.insert(key.clone(), answer);
                }
            }
            let state = result.get("requestState").and_then(Value::as_str).map(str::to_string);
            call.answered((!responses.is_empty()).then_some(responses), state);
        }
        Err(UpstreamError::Rpc {
            code: crate::mcp::jsonrpc::INTERNAL_ERROR,
            message: format!("the target still asked for input after {INPUT_ROUNDS} rounds"),
            data: None,
        })
    }

    /// Sends a request whose caller may give up (the client cancelled it, hung up, or a
    /// deadline passed): the target is then told, with `notifications/cancelled`.
    async fn cancellable(&self, request: ClientRequest) -> Result<Value, UpstreamError> {
        let peer = self.service.peer();
        let handle = peer.send_cancellable_request(request, trace_options()).await.map_err(service_error)?;
        let mut pending = CancelOnDrop { peer: Some(peer.clone()), id: handle.id.clone() };
        let result = handle.await_response().await;
        pending.peer = None;
        to_json(result.map_err(service_error)?)
    }
}

/// Tells the target a request was cancelled if dropped before its answer came.
struct CancelOnDrop {
    peer: Option<rmcp::service::Peer<RoleClient>>,
    id: rmcp::model::RequestId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let params = CancelledNotificationParam::new(
                Some(self.id.clone()),
                Some("the caller gave up the request".to_string()),
            );
            rt.spawn(async move {
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}

impl McpUpstream for Session {
    fn capabilities(&self) -> Value {
        self.service
            .peer()
            .peer_info()
            .and_then(|info| serde_json::to_value(&info.capabilities).ok())
            .unwrap_or_else(|| json!({}))
    }

    fn list_page(&self, kind: ListKind, cursor: Option<String>) -> BoxFuture<'_, Result<Page, UpstreamError>> {
        Box::pin(async move {
            let mut params = PaginatedRequestParams::default().with_cursor(cursor);
            params.meta = trace_meta();
            let params = Some(params);
            let peer = self.service.peer();
            let result = match kind {
                ListKind::Tools => to_json(peer.list_tools(params).await.map_err(service_error)?),
                ListKind::Resources => to_json(peer.list_resources(params).await.map_err(service_error)?),
                ListKind::ResourceTemplates => {
                    to_json(peer.list_resource_templates(params).await.map_err(service_error)?)
                }
                ListKind::Prompts => to_json(peer.list_prompts(params).await.map_err(service_error)?),
            }?;
            Ok(Page::from_result(kind, &result))
        })
    }

    fn call_tool(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(async move {
            let mut params = CallToolRequestParams::new(name);
            params.arguments = arguments;
            self.call(Call::Tool(params)).await
        })
    }

    fn read_resource(&self, uri: String) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(async move {
            let params: ReadResourceRequestParams = from_json(json!({ "uri": uri }))?;
            self.call(Call::Resource(params)).await
        })
    }

    fn get_prompt(
        &self,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(async move {
            let mut params = json!({ "name": name });
            if let Some(a) = arguments {
                params["arguments"] = Value::Object(a);
            }
            let params: GetPromptRequestParams = from_json(params)?;
            self.call(Call::Prompt(params)).await
        })
    }

    fn complete(&self, params: Map<String, Value>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        Box::pin(async move {
            let mut params = Value::Object(params);
            super::trace::add_to(&mut params);
            let params: CompleteRequestParams = from_json(params)?;
            to_json(self.service.peer().complete(params).await.map_err(service_error)?)
        })
    }

    fn is_closed(&self) -> bool {
        self.service.is_closed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        // rmcp closes the transport when its loop ends: a stdio target's standard input is
        // closed, then SIGTERM if it lingers, then SIGKILL; an HTTP target's session deleted.
        self.service.cancellation_token().cancel();
        let mut closed = self.closed.clone();
        Box::pin(async move {
            let _ = closed.wait_for(|c| *c).await;
        })
    }
}

/// The `_meta` trace keys of the call under way, if it is traced.
fn trace_meta() -> Option<rmcp::model::RequestMetaObject> {
    super::trace::outgoing().map(|keys| rmcp::model::RequestMetaObject(rmcp::model::MetaObject(keys)))
}

/// A request's options: its trace keys, when it is traced.
fn trace_options() -> PeerRequestOptions {
    let mut options = PeerRequestOptions::no_options();
    options.meta = trace_meta();
    options
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, UpstreamError> {
    serde_json::to_value(value).map_err(|e| UpstreamError::Unavailable(format!("unreadable result: {e}")))
}

/// Params the library's types do not take are the client's mistake: `-32602`.
fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, UpstreamError> {
    serde_json::from_value(value).map_err(|e| UpstreamError::Rpc {
        code: crate::mcp::jsonrpc::INVALID_PARAMS,
        message: format!("Invalid params: {e}"),
        data: None,
    })
}

fn service_error(e: ServiceError) -> UpstreamError {
    match e {
        ServiceError::McpError(err) => {
            UpstreamError::Rpc { code: i64::from(err.code.0), message: err.message.into_owned(), data: err.data }
        }
        ServiceError::Timeout { timeout } => UpstreamError::Timeout(timeout),
        other => UpstreamError::Unavailable(super::with_causes(&other)),
    }
}
