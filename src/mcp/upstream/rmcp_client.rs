//! The one file that names `rmcp`: sessions over stdio (a child process) and streamable HTTP,
//! driven by rmcp's client, seen by the rest of Sluice as [`McpUpstream`]; legacy HTTP+SSE
//! targets (no rmcp client exists for them) are opened by [`super::sse_client`].
#![allow(deprecated)] // sampling, roots and logging: deprecated by SEP-2577, still spoken by targets we relay

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequest, CancelledNotificationParam, ClientRequest, GetPromptRequest, InputResponses, ReadResourceRequest,
};
use rmcp::model::{
    CallToolRequestParams, ClientConfig, CompleteRequestParams, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ErrorCode, GetPromptRequestParams, Implementation, ListRootsResult,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams,
    ResourceUpdatedNotificationParam,
};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage};
use rmcp::service::{
    NotificationContext, PeerRequestOptions, RequestContext, RoleClient, RunningService, ServiceError,
};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, serve_client};
use serde_json::{Map, Value, json};

use super::relay::Relay;
use super::{BoxFuture, Connector, ListKind, McpUpstream, Page, UpstreamError};
use crate::ir::mcp::{McpTargetIr, McpTransport};

/// Introduces Sluice at `initialize`, declaring what a client of Sluice may answer (sampling,
/// elicitation, roots), and hands whatever the target asks or tells the client to the session's
/// [`Relay`].
struct Handler {
    relay: Arc<Relay>,
}

impl Handler {
    async fn relay<P: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: P,
    ) -> Result<R, McpError> {
        let params = serde_json::to_value(params).map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let result = self.relay.request(method, params).await.map_err(|e| {
            let code = i32::try_from(e.code).unwrap_or(crate::mcp::jsonrpc::INTERNAL_ERROR as i32);
            McpError::new(ErrorCode(code), e.message, e.data)
        })?;
        serde_json::from_value(result).map_err(|e| {
            McpError::invalid_params(format!("the client's answer to {method} is not a valid result: {e}"), None)
        })
    }

    fn tell<P: serde::Serialize>(&self, method: &str, params: P) {
        if let Ok(params) = serde_json::to_value(params) {
            self.relay.notify(method, params);
        }
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("sluice", env!("CARGO_PKG_VERSION"));
        info.capabilities =
            serde_json::from_value(json!({"sampling": {}, "elicitation": {"form": {}, "url": {}}, "roots": {}}))
                .unwrap_or_default();
        info
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        self.relay("sampling/createMessage", params).await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.relay("elicitation/create", params).await
    }

    async fn list_roots(&self, _: RequestContext<RoleClient>) -> Result<ListRootsResult, McpError> {
        self.relay("roots/list", json!({})).await
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.tell("notifications/progress", params);
    }

    async fn on_logging_message(&self, params: LoggingMessageNotificationParam, _: NotificationContext<RoleClient>) {
        self.tell("notifications/message", params);
    }

    async fn on_resource_updated(&self, params: ResourceUpdatedNotificationParam, _: NotificationContext<RoleClient>) {
        self.tell("notifications/resources/updated", params);
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tell("notifications/tools/list_changed", json!({}));
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tell("notifications/resources/list_changed", json!({}));
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tell("notifications/prompts/list_changed", json!({}));
    }
}

struct Session {
    service: RunningService<RoleClient, Handler>,
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
            let handler = Handler { relay };
            // What the HTTP client last failed with, in full (rmcp keeps only the outer message).
            let last_error = Arc::new(std::sync::Mutex::new(None));
            let service = match &target.transport {
                McpTransport::Stdio { command, args, env } => {
                    let mut cmd = tokio::process::Command::new(command);
                    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(true);
                    let (process, _) = TokioChildProcess::builder(cmd)
                        .stderr(Stdio::inherit())
                        .spawn()
                        .map_err(|e| UpstreamError::Unavailable(format!("cannot start {command:?}: {e}")))?;
                    serve_client(handler, process).await
                }
                McpTransport::StreamableHttp { url } => {
                    let headers = header_map(&target.headers)?.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
                    let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers);
                    let client = Lenient { client: reqwest_client(&target)?, last_error: last_error.clone() };
                    let transport = StreamableHttpClientTransport::with_client(client, config);
                    serve_client(handler, transport).await
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
            Ok(Arc::new(Session { service }) as Arc<dyn McpUpstream>)
        })
    }
}

/// The target's configured headers.
fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, UpstreamError> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| UpstreamError::Unavailable(format!("header {k:?}: {e}")))?;
        let value =
            http::HeaderValue::from_str(v).map_err(|e| UpstreamError::Unavailable(format!("header {k:?}: {e}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The target's HTTP client: no proxy from the environment; for `https://`, rustls as the
/// target's TLS settings say.
fn reqwest_client(target: &McpTargetIr) -> Result<reqwest::Client, UpstreamError> {
    // reqwest wants a TLS setup even for plain HTTP; ours is rustls on ring, never a
    // process-wide default provider.
    static PLAIN: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> = std::sync::OnceLock::new();
    let config = match &target.tls {
        Some(tls) => Some(tls.config.clone()),
        None => PLAIN
            .get_or_init(|| {
                let roots = crate::ir::translate::tls::system_roots();
                crate::ir::translate::tls::client_config(roots, None).ok().map(Arc::new)
            })
            .clone(),
    };
    let config = config.ok_or_else(|| UpstreamError::Unavailable("no TLS configuration".into()))?;
    reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured((*config).clone())
        .build()
        .map_err(|e| UpstreamError::Unavailable(format!("HTTP client: {e}")))
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
        let handle =
            peer.send_cancellable_request(request, PeerRequestOptions::no_options()).await.map_err(service_error)?;
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
            let params = Some(PaginatedRequestParams::default().with_cursor(cursor));
            let peer = self.service.peer();
            let result = match kind {
                ListKind::Tools => to_json(peer.list_tools(params).await.map_err(service_error)?),
                ListKind::Resources => to_json(peer.list_resources(params).await.map_err(service_error)?),
                ListKind::ResourceTemplates => {
                    to_json(peer.list_resource_templates(params).await.map_err(service_error)?)
                }
                ListKind::Prompts => to_json(peer.list_prompts(params).await.map_err(service_error)?),
            }?;
            let items = match result.get(kind.field()) {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            let next_cursor = result.get("nextCursor").and_then(Value::as_str).map(str::to_string);
            Ok(Page { items, next_cursor })
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
            let params: CompleteRequestParams = from_json(Value::Object(params))?;
            to_json(self.service.peer().complete(params).await.map_err(service_error)?)
        })
    }

    fn is_closed(&self) -> bool {
        self.service.is_closed()
    }
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

/// rmcp's reqwest client, lenient with one peer bug: a target that no longer knows the session
/// should answer 404, which rmcp meets by initializing a new session and sending the message
/// again; some (server-everything among them) answer 400 with a JSON-RPC error that has no
/// id, which rmcp can tie to no request, so the call would wait until it timed out. An id-less
/// error answering a message sent within a session is taken as the session having expired.
/// It also keeps its last transport failure with every cause (rmcp reports only the outer
/// message, which never says why: a refused certificate, a refused connection).
#[derive(Clone)]
struct Lenient {
    client: reqwest::Client,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

type HttpResult<T> = Result<T, StreamableHttpError<reqwest::Error>>;
type Events = futures_util::stream::BoxStream<'static, Result<sse_stream::Sse, SseError>>;

impl StreamableHttpClient for Lenient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits).await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits).await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let within_session = session_id.is_some();
        let answer = self
            .client
            .post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits)
            .await;
        if let Err(e) = &answer {
            let why = match e {
                StreamableHttpError::Client(inner) => super::with_causes(inner),
                other => super::with_causes(other),
            };
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        }
        match answer {
            Ok(StreamableHttpPostResponse::Json(JsonRpcMessage::Error(e), _)) if within_session && e.id.is_none() => {
                tracing::debug!(error = %e.error.message, "an MCP target refused its session; starting a new one");
                Err(StreamableHttpError::SessionExpired)
            }
            other => other,
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        self.client.delete_session(uri, session_id, auth_header, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<Events> {
        self.client.get_stream(uri, session_id, last_event_id, auth_header, custom_headers).await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<Events> {
        self.client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
