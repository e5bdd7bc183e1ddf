//! The upstream call: one attempt to one endpoint of a backend.

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use hyper::body::Incoming;

use super::error::ProxyError;
use super::upstream::Pools;
use crate::httpkit::body::{self, ProxyBody};
use crate::ir::{Upstream, UpstreamProtocol};

/// Everything needed to build (and rebuild, for retries and mirrors) an upstream request.
#[derive(Clone)]
pub struct OutboundHead {
    pub method: Method,
    /// Path and query as they go upstream.
    pub path_and_query: http::uri::PathAndQuery,
    /// Host header / `:authority` as it goes upstream.
    pub authority: String,
    pub headers: HeaderMap,
    pub upgrade: bool,
}

/// A request body that can be sent once (streaming) or any number of times (buffered).
pub enum OutboundBody {
    Stream(ProxyBody),
    Buffered(Bytes),
    Taken,
}

impl OutboundBody {
    /// The body for the next attempt; `None` when a streamed body was already used.
    pub fn take(&mut self) -> Option<ProxyBody> {
        match std::mem::replace(self, OutboundBody::Taken) {
            OutboundBody::Stream(b) => Some(b),
            OutboundBody::Buffered(bytes) => {
                *self = OutboundBody::Buffered(bytes.clone());
                Some(if bytes.is_empty() { body::empty() } else { body::full(bytes) })
            }
            OutboundBody::Taken => None,
        }
    }
}

/// One attempt. `headers` are this attempt's: the caller clones `head.headers` only when it
/// may need them again (retries, mirrors).
pub async fn send(
    pools: &Pools,
    upstream: &Upstream,
    head: &OutboundHead,
    headers: HeaderMap,
    body: ProxyBody,
) -> Result<Response<Incoming>, ProxyError> {
    send_picked(pools, upstream, head, headers, body).await.map(|(resp, _)| resp)
}

/// As [`send`], and which of the upstream's endpoints answered (its index).
pub async fn send_picked(
    pools: &Pools,
    upstream: &Upstream,
    head: &OutboundHead,
    headers: HeaderMap,
    body: ProxyBody,
) -> Result<(Response<Incoming>, usize), ProxyError> {
    let index = upstream.pick_index().ok_or_else(|| {
        tracing::debug!(backend = %upstream.pool_key, "no endpoints available");
        ProxyError::upstream_connect("the backend has no endpoints available")
    })?;
    let h2 = upstream.protocol == UpstreamProtocol::H2c;
    let uri: Uri = if h2 {
        let scheme = if upstream.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", head.authority, head.path_and_query)
            .parse()
            .map_err(|e| ProxyError::internal(http::StatusCode::BAD_REQUEST, format!("invalid upstream URI: {e}")))?
    } else {
        Uri::from(head.path_and_query.clone())
    };
    let mut req = Request::new(body);
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = if h2 { Version::HTTP_2 } else { Version::HTTP_11 };
    *req.headers_mut() = headers;
    if !h2 && let Ok(v) = HeaderValue::from_str(&head.authority) {
        req.headers_mut().insert(HOST, v);
    }
    let upgrade = head.upgrade && upgrade_allowed(upstream, req.headers());
    if head.upgrade && !upgrade {
        // Not a WebSocket backend, or not a WebSocket upgrade (`h2c` and others would let a
        // client speak another protocol to the backend past the gateway): a plain request.
        req.headers_mut().remove(http::header::UPGRADE);
        req.headers_mut().remove(http::header::CONNECTION);
    }
    let resp = pools.send(upstream, index, req, upgrade).await?;
    if !upgrade && resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let mut e = ProxyError::upstream(
            format!("backend {} switched protocols without an upgrade the gateway allowed", upstream.pool_key),
            true,
        );
        e.retryable = false;
        return Err(e);
    }
    Ok((resp, index))
}

/// Whether an upgrade request may go to `upstream` as one: only WebSocket, only to a backend
/// whose `appProtocol` says it speaks it.
pub fn upgrade_allowed(upstream: &Upstream, headers: &HeaderMap) -> bool {
    upstream.protocol == UpstreamProtocol::WebSocket
        && headers.get_all(http::header::UPGRADE).iter().count() == 1
        && headers
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}
