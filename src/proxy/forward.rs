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
    let index = upstream
        .pick_index()
        .ok_or_else(|| ProxyError::upstream_connect(format!("no endpoints available for {}", upstream.pool_key)))?;
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
    pools.send(upstream, index, req, head.upgrade).await
}
