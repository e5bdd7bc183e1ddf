//! Protected-resource metadata (RFC 9728) of MCP routes whose policy makes them OAuth
//! resource servers: `GET /.well-known/oauth-protected-resource/<path>` answers for the rule
//! that serves `<path>` on the same listener. Unauthenticated: clients read it to find where
//! to get a token.

use http::{HeaderValue, Request, Response, StatusCode};

use crate::httpkit::body::{self, ProxyBody};
use crate::ir::Listener;
use crate::ir::route::RequestView;

/// The metadata of the resource at `resource` (a path), when a rule with an MCP
/// authorization policy serves it.
pub fn answer<B>(
    listener: &Listener,
    host: &str,
    resource: &str,
    req: &Request<B>,
    peer: crate::policy::Peer,
) -> Option<Response<ProxyBody>> {
    if req.method() != http::Method::GET {
        return None;
    }
    let path = if resource.is_empty() { "/" } else { resource };
    if !path.starts_with('/') {
        return None;
    }
    // MCP clients POST to the resource: find the rule that would serve that.
    let view = RequestView { method: &http::Method::POST, path, query: None, headers: req.headers() };
    let entry = listener.routes.find(host, &view)?;
    let m = entry.policy.as_ref()?.mcp_authorization.as_ref()?;
    let mut head = Request::new(());
    *head.uri_mut() = req.uri().clone();
    *head.headers_mut() = req.headers().clone();
    let (parts, ()) = head.into_parts();
    let doc = crate::policy::resource_metadata(m, &parts, peer, if path == "/" { "" } else { path });
    let mut resp = Response::new(body::full(doc.to_string()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Some(resp)
}
