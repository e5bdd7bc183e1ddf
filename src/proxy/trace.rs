//! The request's span (docs/observability.md, Traces): a server span named `METHOD route`, with
//! the HTTP semantic conventions' attributes, ended when the answer's body has gone; and the
//! policy layer's admission as a child span.

use http::{Request, Response};
use hyper::body::Incoming;

use super::handler::ConnInfo;
use crate::httpkit::body::ProxyBody;
use crate::httpkit::observe;
use crate::metrics::trace::{Attribute, Kind, TraceSpan, Tracing};

/// The span of a request received (the client's `traceparent` is its parent).
pub fn request_span(tracing: &Tracing, req: &Request<Incoming>, conn: &ConnInfo) -> TraceSpan {
    let method = req.method().as_str().to_string();
    let attributes = vec![
        Attribute::new("http.request.method", method.clone()),
        Attribute::new("url.path", req.uri().path().to_string()),
        Attribute::new("url.scheme", conn.scheme),
        Attribute::new("client.address", conn.remote.ip().to_string()),
    ];
    tracing.request(req.headers(), method, attributes)
}

/// The policy layer's admission, as a child span.
pub fn admission_span(request: &TraceSpan) -> TraceSpan {
    request.child("policy admission".into(), Kind::Internal, Vec::new())
}

/// The admission's result (`allowed`, `unauthenticated`…) and the authentication method.
pub fn decided(span: Option<TraceSpan>, method: &'static str, result: &'static str) {
    if let Some(s) = span {
        s.set(Attribute::new("sluice.policy.result", result));
        s.set(Attribute::new("sluice.auth.method", method));
        s.end();
    }
}

/// One attempt at a backend (a retry is another): a client span, the parent of what the backend
/// does, written into the attempt's `headers`.
pub fn attempt_span(
    request: &TraceSpan,
    method: &http::Method,
    resends: u32,
    headers: &mut http::HeaderMap,
) -> TraceSpan {
    let mut attributes = vec![Attribute::new("http.request.method", method.as_str().to_string())];
    if resends > 0 {
        attributes.push(Attribute::new("http.request.resend_count", i64::from(resends)));
    }
    let span = request.child(method.as_str().to_string(), Kind::Client, attributes);
    span.inject(headers);
    span
}

/// The attempt's end, when the backend's response head came (its status and the endpoint that
/// answered) or the attempt failed (the status the gateway would answer: 502, 504).
pub fn attempt_done(
    span: TraceSpan,
    outcome: Result<(http::StatusCode, Option<&crate::ir::backend::Endpoint>), http::StatusCode>,
) {
    match outcome {
        Ok((status, endpoint)) => {
            span.set(Attribute::new("http.response.status_code", i64::from(status.as_u16())));
            let address = match endpoint {
                Some(crate::ir::backend::Endpoint::Addr(a)) => Some((a.ip().to_string(), a.port())),
                Some(crate::ir::backend::Endpoint::Dns { host, port }) => Some((host.clone(), *port)),
                None => None,
            };
            if let Some((host, port)) = address {
                span.set(Attribute::new("server.address", host));
                span.set(Attribute::new("server.port", i64::from(port)));
            }
            if status.is_server_error() {
                span.fail(status.to_string());
            }
        }
        Err(status) => {
            span.set(Attribute::new("error.type", status.as_str().to_string()));
            span.fail(status.to_string());
        }
    }
    span.end();
}

/// Names the span after its route, notes the status, and ends it when the body has gone.
pub fn finish(
    span: TraceSpan,
    method: &http::Method,
    route: Option<&str>,
    resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let status = resp.status();
    if let Some(route) = route {
        span.rename(format!("{method} {route}"));
        span.set(Attribute::new("http.route", route.to_string()));
    }
    span.set(Attribute::new("http.response.status_code", i64::from(status.as_u16())));
    if status.is_server_error() {
        span.fail(status.to_string());
    }
    let (parts, body) = resp.into_parts();
    let body = observe::watch(
        body,
        Box::new(move |seen| {
            span.set(Attribute::new("http.response.body.size", i64::try_from(seen.bytes).unwrap_or(i64::MAX)));
            span.end();
        }),
    );
    Response::from_parts(parts, body)
}
