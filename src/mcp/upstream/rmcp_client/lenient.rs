//! rmcp's reqwest client for streamable HTTP targets, with what rmcp lacks: leniency with a
//! peer bug, and transport errors kept with their causes.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};

/// rmcp's reqwest client, lenient with one peer bug: a target that no longer knows the session
/// should answer 404, which rmcp meets by initializing a new session and sending the message
/// again; some (server-everything among them) answer 400 with a JSON-RPC error that has no
/// id, which rmcp can tie to no request, so the call would wait until it timed out. An id-less
/// error answering a message sent within a session is taken as the session having expired.
/// It also keeps its last transport failure with every cause (rmcp reports only the outer
/// message, which never says why: a refused certificate, a refused connection).
#[derive(Clone)]
pub(super) struct Lenient {
    pub(super) client: reqwest::Client,
    pub(super) last_error: Arc<std::sync::Mutex<Option<String>>>,
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
                StreamableHttpError::Client(inner) => crate::mcp::upstream::with_causes(inner),
                other => crate::mcp::upstream::with_causes(other),
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
