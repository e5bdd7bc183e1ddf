//! The RequestRedirect filter: answers with a Location built from the request and the filter.

use http::{HeaderValue, Response};

use super::rewrite::apply_path;
use crate::httpkit::body::{self, ProxyBody};
use crate::ir::filter::Redirect;
use crate::ir::route::PathMatch;

pub struct RequestParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    /// The listener's port as configured on the Gateway.
    pub listener_port: u16,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

pub fn location(r: &Redirect, req: &RequestParts<'_>, matched: &PathMatch) -> String {
    let scheme = r.scheme.as_deref().unwrap_or(req.scheme);
    let host = r.hostname.as_deref().unwrap_or(req.host);
    // Port: as given; else the well-known port of a scheme the filter set; else the listener's.
    let port = r.port.or_else(|| if r.scheme.is_some() { default_port(scheme) } else { Some(req.listener_port) });
    let path = match &r.path {
        Some(m) => apply_path(m, matched, req.path),
        None => req.path.to_string(),
    };
    let mut out = format!("{scheme}://{host}");
    if let Some(port) = port
        && default_port(scheme) != Some(port)
    {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(&path);
    if let Some(q) = req.query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub fn respond(r: &Redirect, req: &RequestParts<'_>, matched: &PathMatch) -> Response<ProxyBody> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = r.status;
    if let Ok(v) = HeaderValue::from_str(&location(r, req, matched)) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}
