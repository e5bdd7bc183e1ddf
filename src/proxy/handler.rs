//! The request path, as a short sequence of named phases:
//!
//! 1. **accept**: take the snapshot once; it serves this request to its end.
//! 2. **route**: listener by Host (421 when TLS SNI chose another listener), then the route entry.
//! 3. **request filters**: redirect, CORS preflight, header modifiers, rewrite, mirrors.
//! 4. **upstream**: pick a backend by weight, call it with timeouts and retries.
//! 5. **response filters**: header modifiers, CORS headers.
//! 6. **log**: metrics by route, backend and status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::error::ProxyError;
use super::filters::{self, cors, mirror, redirect, rewrite};
use super::forward::{self, OutboundBody, OutboundHead};
use super::pipeline::{Handoff, Pipelines};
use super::resource_metadata;
use super::retry::Retries;
use super::upstream::Pools;
use crate::httpkit::body::{self, ProxyBody};
use crate::httpkit::idle;
use crate::httpkit::{deadline, weighted};
use crate::ir::filter::{Cors, HeaderModifier};
use crate::ir::hostname::host_without_port;
use crate::ir::route::{RequestView, RouteEntry};
use crate::ir::route::{RouteRule, RulePipeline};
use crate::ir::{Backend, BackendTarget, BindKey, Filter, Snapshot};
use crate::metrics::trace::TraceSpan;
use crate::metrics::{Metrics, Series};
use crate::policy::{self, PolicyLayer};

/// How long a proxy route without a timeout of its own waits for a backend's response head
/// (Envoy's route default is 15 s; long polls set a route timeout).
const DEFAULT_RESPONSE_HEADER: std::time::Duration = std::time::Duration::from_secs(30);

/// Largest request body kept in memory so that it can be replayed by retries and mirrors.
const REPLAY_LIMIT: u64 = 64 * 1024;

/// What every connection shares: the current snapshot, connection pools and metrics.
pub struct Shared {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub pools: Arc<Pools>,
    pub metrics: Arc<Metrics>,
    /// The pipelines of AI and MCP rules.
    pub pipelines: Pipelines,
    /// Authentication and authorization of rules with a TrafficPolicy.
    pub policy: Arc<PolicyLayer>,
    /// Open connections, and the graceful stop.
    pub drain: super::drain::Drain,
    /// How long a proxied answer's body may send nothing before it is given up, in
    /// milliseconds (0: never; `sluice run --body-idle-timeout`).
    pub body_idle_ms: std::sync::atomic::AtomicU64,
}

/// A proxied answer's body that sends nothing for this long is given up (Envoy's stream idle
/// timeout; nginx's `proxy_read_timeout` is 60 s).
pub const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(300);

impl Shared {
    fn body_idle(&self) -> Option<std::time::Duration> {
        let ms = self.body_idle_ms.load(std::sync::atomic::Ordering::Relaxed);
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }
}

/// Facts about the downstream connection.
pub struct ConnInfo {
    pub bind: BindKey,
    pub scheme: &'static str,
    pub remote: SocketAddr,
    /// The listener TLS SNI selected, on HTTPS ports.
    pub sni_listener: Option<String>,
}

/// What the request reached, for its metric series: the rule and, if one was called, the
/// backend. Both live in the snapshot the request holds.
#[derive(Default)]
struct Labels<'s> {
    listener: Option<&'s crate::ir::Listener>,
    rule: Option<&'s RouteRule>,
    backend: Option<&'s Backend>,
    /// The request, when the rule's policy logs it.
    log: Option<super::access_log::Pending<'s>>,
    /// The request's span and method, when traces are on.
    span: Option<(TraceSpan, http::Method)>,
}

impl Labels<'_> {
    /// The metric series, found once per snapshot object and cached in it.
    fn series(&self, metrics: &Metrics) -> Arc<Series> {
        static UNROUTED: std::sync::OnceLock<(Arc<str>, Arc<str>)> = std::sync::OnceLock::new();
        let (route, slot, backend) = match (self.rule, self.backend) {
            (Some(r), Some(b)) => (&r.label, &b.metrics, &b.name),
            (Some(r), None) => (&r.label, &r.metrics, &no_backend().1),
            (None, _) => {
                let (r, b) = UNROUTED.get_or_init(|| (Arc::from("-"), Arc::from("-")));
                return metrics.series(r, b);
            }
        };
        let cached = slot.get_or_init(|| metrics.series(route, backend));
        match cached.clone().downcast::<Series>() {
            Ok(series) => series,
            Err(_) => metrics.series(route, backend),
        }
    }
}

/// A listener's counters, found once per snapshot object and cached in it.
fn listener_series(metrics: &Metrics, l: &crate::ir::Listener) -> Arc<crate::metrics::ListenerSeries> {
    let cached = l.metrics.get_or_init(|| metrics.listener(&l.gateway, &l.name));
    match cached.clone().downcast() {
        Ok(series) => series,
        Err(_) => metrics.listener(&l.gateway, &l.name),
    }
}

fn no_backend() -> &'static (Arc<str>, Arc<str>) {
    static NONE: std::sync::OnceLock<(Arc<str>, Arc<str>)> = std::sync::OnceLock::new();
    NONE.get_or_init(|| (Arc::from("-"), Arc::from("-")))
}

pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    // Phase 1: accept; the path as routes match it (and the backend gets it).
    let start = Instant::now();
    let mut labels = Labels::default();
    let mut req = req;
    if let Some(p) = super::normalize::path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    if let Some(tracing) = shared.metrics.tracing.get() {
        labels.span = Some((super::trace::request_span(tracing, &req, &conn), req.method().clone()));
    }
    let snapshot = shared.snapshot.load_full();
    let resp = match route(&shared, &conn, &snapshot, req, &mut labels).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // Phase 6: log.
    labels.series(&shared.metrics).record(resp.status().as_u16(), start.elapsed());
    if let Some(l) = labels.listener {
        listener_series(&shared.metrics, l).record(resp.status().as_u16());
    }
    let resp = match labels.span.take() {
        None => resp,
        Some((span, method)) => super::trace::finish(span, &method, labels.rule.map(|r| &*r.label), resp),
    };
    Ok(match labels.log.take() {
        None => resp,
        Some(pending) => {
            let names = (labels.rule.map(|r| &*r.label), labels.backend.map(|b| &*b.name));
            super::access_log::finish(&shared.metrics, pending, names, start, resp)
        }
    })
}

/// Phase 2: route.
async fn route<'s>(
    shared: &Shared,
    conn: &ConnInfo,
    snapshot: &'s Snapshot,
    req: Request<Incoming>,
    labels: &mut Labels<'s>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let port = snapshot
        .port(&conn.bind)
        .ok_or_else(|| ProxyError::internal(StatusCode::NOT_FOUND, "no listener is configured on this port"))?;
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| req.headers().get(HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
        .unwrap_or_default();
    let host = host_without_port(&authority);
    let listener = port
        .listener_for(&host)
        .ok_or_else(|| ProxyError::internal(StatusCode::NOT_FOUND, format!("no listener accepts host {host:?}")))?;
    labels.listener = Some(listener);
    if conn.sni_listener.as_ref().is_some_and(|sni| *sni != listener.name) {
        return Err(ProxyError::internal(
            StatusCode::MISDIRECTED_REQUEST,
            format!("host {host:?} is not served on this TLS connection"),
        ));
    }
    if let Some(resource) = req.uri().path().strip_prefix(policy::RESOURCE_METADATA_PREFIX)
        && let Some(resp) = resource_metadata::answer(
            listener,
            &host,
            resource,
            &req,
            policy::Peer { ip: conn.remote.ip(), scheme: conn.scheme },
        )
    {
        return Ok(resp);
    }
    let view =
        RequestView { method: req.method(), path: req.uri().path(), query: req.uri().query(), headers: req.headers() };
    let entry = listener
        .routes
        .find(&host, &view)
        .ok_or_else(|| ProxyError::internal(StatusCode::NOT_FOUND, "no route matches this request"))?;
    labels.rule = Some(&entry.rule);
    if let Some(log) = entry.policy.as_deref().and_then(|p| p.access_log.as_ref())
        && super::access_log::sampled(log.sampling)
    {
        labels.log = Some(super::access_log::Pending {
            log,
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            client: conn.remote.ip(),
            identity: None,
            policy: None,
            endpoint: None,
            upstream: None,
            attempts: 0,
        });
    }
    let serve = serve(shared, conn, entry, req, host, authority, labels);
    deadline::within_opt(entry.rule.timeouts.request, serve, |limit| {
        ProxyError::timeout(format!("request timeout of {limit:?} reached"))
    })
    .await
}

/// Phases 3 to 5 for one matched route entry.
async fn serve<'s>(
    shared: &Shared,
    conn: &ConnInfo,
    entry: &'s RouteEntry,
    req: Request<Incoming>,
    host: String,
    authority: String,
    labels: &mut Labels<'s>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let rule = &entry.rule;
    let (mut parts, incoming) = req.into_parts();
    let origin = parts.headers.get(http::header::ORIGIN).cloned();

    // Phase 3a: request policies: who the client is, and whether the rule's policy lets it in.
    let mut limit_headers = policy::limits::RateHeaders::default();
    let peer = policy::Peer { ip: conn.remote.ip(), scheme: conn.scheme };
    let mut admitted = None;
    // A CORS preflight of a rule with a CORS filter carries no credentials and is answered by
    // the filter.
    if let Some(policy) = &entry.policy {
        let preflight = rule.filters.iter().any(|f| matches!(f, Filter::Cors(_)))
            && parts.method == http::Method::OPTIONS
            && parts.headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
        if !preflight {
            let decision = labels.span.as_ref().map(|(s, _)| super::trace::admission_span(s));
            match shared.policy.admit(policy, &rule.label, &mut parts, peer).await {
                Ok((a, headers)) => {
                    limit_headers = headers;
                    shared.metrics.record_policy(a.identity.method, "allowed");
                    super::trace::decided(decision, a.identity.method, "allowed");
                    if let Some(log) = labels.log.as_mut() {
                        log.identity = Some(a.identity.name.clone()).filter(|n| !n.is_empty());
                        log.policy = Some("allowed");
                    }
                    admitted = Some(a);
                }
                Err(denial) => {
                    shared.metrics.record_policy("-", denial.outcome());
                    super::trace::decided(decision, "-", denial.outcome());
                    if let Some(log) = labels.log.as_mut() {
                        log.policy = Some(denial.outcome());
                    }
                    tracing::debug!(status = %denial.status, reason = %denial.message, rule = %rule.label, "request refused by policy");
                    return Ok(match &rule.pipeline {
                        RulePipeline::Ai(_) => shared.pipelines.ai.deny(&denial, &parts, peer, policy),
                        RulePipeline::Mcp(_) => shared.pipelines.mcp.deny(&denial, &parts, peer, policy),
                        RulePipeline::Proxy | RulePipeline::Mixed(_) => denial.to_response(),
                    });
                }
            }
        }
    }
    let mut response_mods: Vec<&HeaderModifier> = Vec::new();
    let mut cors_filter: Option<&Cors> = None;
    let mut mirrors = Vec::new();
    // The path changes only when a rewrite says so; the original is reused otherwise.
    let mut rewritten_path: Option<String> = None;
    let mut out_authority = authority;

    // Phase 3: request filters, in the order the rule lists them. What the client named in
    // `Connection` is its own hop's and is gone before they run: a client cannot have an
    // operator's header removed by naming it there.
    drop_connection_listed(&mut parts.headers);
    for filter in &rule.filters {
        match filter {
            Filter::Redirect(r) => {
                let req_parts = redirect::RequestParts {
                    scheme: conn.scheme,
                    host: &host,
                    listener_port: conn.bind.port,
                    path: rewritten_path.as_deref().unwrap_or(parts.uri.path()),
                    query: parts.uri.query(),
                };
                return Ok(redirect::respond(r, &req_parts, &entry.matcher.path));
            }
            Filter::Cors(c) => {
                if let Some(resp) = cors::preflight(c, &parts.method, &parts.headers) {
                    return Ok(resp);
                }
                cors_filter = Some(c);
            }
            Filter::RequestHeaders(m) => filters::headers::apply(m, &mut parts.headers),
            Filter::ResponseHeaders(m) => response_mods.push(m),
            Filter::Rewrite(r) => {
                if let Some(h) = &r.hostname {
                    out_authority = h.clone();
                }
                if let Some(p) = &r.path {
                    let current = rewritten_path.as_deref().unwrap_or(parts.uri.path());
                    rewritten_path = Some(rewrite::apply_path(p, &entry.matcher.path, current));
                }
            }
            Filter::Mirror(m) => mirrors.push(m),
            Filter::ExternalAuth(e) => match policy::authn::external::check(e, &parts).await {
                Ok((add, _)) => {
                    for (name, value) in &add {
                        parts.headers.append(name.clone(), value.clone());
                    }
                }
                Err(denial) => {
                    let none = crate::ir::policy::PolicyIr::default();
                    let policy = entry.policy.as_deref().unwrap_or(&none);
                    return Ok(match &rule.pipeline {
                        RulePipeline::Ai(_) => shared.pipelines.ai.deny(&denial, &parts, peer, policy),
                        RulePipeline::Mcp(_) => shared.pipelines.mcp.deny(&denial, &parts, peer, policy),
                        RulePipeline::Proxy | RulePipeline::Mixed(_) => denial.to_response(),
                    });
                }
            },
        }
    }

    // The AI and MCP pipelines answer their rules themselves; the response filters still apply.
    let decorate = |resp: Response<ProxyBody>| {
        let (mut rparts, rbody) = resp.into_parts();
        limit_headers.write(&mut rparts.headers, false);
        for m in response_mods.iter().rev() {
            filters::headers::apply(m, &mut rparts.headers);
        }
        if let Some(c) = cors_filter {
            cors::decorate(c, origin.as_ref(), &mut rparts.headers);
        }
        Response::from_parts(rparts, rbody)
    };
    // The upstream (a backend, a provider) sees the gateway's span as its parent.
    let span = labels.span.as_ref().map(|(s, _)| s.clone());
    if let Some(s) = &span {
        s.inject(&mut parts.headers);
    }
    let handoff = Handoff { peer, admitted: admitted.as_ref(), span: span.as_ref() };
    let incoming = match &rule.pipeline {
        RulePipeline::Proxy => incoming,
        RulePipeline::Ai(backends) => {
            return Ok(decorate(shared.pipelines.ai.serve(backends, &parts, handoff, incoming).await));
        }
        RulePipeline::Mcp(route) => {
            return Ok(decorate(shared.pipelines.mcp.serve(route, &parts, handoff, incoming).await));
        }
        RulePipeline::Mixed(why) => {
            return Err(ProxyError::internal(StatusCode::INTERNAL_SERVER_ERROR, why.to_string()));
        }
    };
    let backend = pick_backend(&rule.backends)?;
    labels.backend = Some(backend);
    let upstream = match &backend.target {
        BackendTarget::Upstream(u) => u.clone(),
        BackendTarget::Ai(_) | BackendTarget::Mcp(_) => {
            return Err(ProxyError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "AI or MCP backend outside its own path",
            ));
        }
        BackendTarget::Invalid { reason } => {
            return Err(ProxyError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("backend {} is invalid: {reason}", backend.name),
            ));
        }
    };
    for f in &backend.filters {
        match f {
            Filter::RequestHeaders(m) => filters::headers::apply(m, &mut parts.headers),
            Filter::ResponseHeaders(m) => response_mods.push(m),
            Filter::Redirect(_)
            | Filter::Rewrite(_)
            | Filter::Mirror(_)
            | Filter::Cors(_)
            | Filter::ExternalAuth(_) => {}
        }
    }

    // The route's request body limit (a TrafficPolicy's `requestBody`): a declared length over
    // it is refused before anything goes upstream; a longer body than declared (or a chunked
    // one) ends the upstream request when it passes the limit.
    let max_body = entry.policy.as_ref().and_then(|p| p.max_request_body);
    let timeouts = entry.policy.as_ref().and_then(|p| p.timeouts).unwrap_or_default();
    if let Some(max) = max_body
        && declared_length(&parts.headers).is_some_and(|n| n > max)
    {
        return Err(body_too_large(max));
    }
    let incoming = match max_body {
        Some(max) => body::limited(body::from_incoming(incoming), max),
        None => body::from_incoming(incoming),
    };

    let upgrade = is_upgrade(&parts.headers);
    let downstream_upgrade = if upgrade { parts.extensions.remove::<hyper::upgrade::OnUpgrade>() } else { None };
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrade);
    headers.remove(HOST);
    add_forwarded(&mut headers, conn);
    let path_and_query = match (rewritten_path, parts.uri.query()) {
        (None, _) => parts.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        (Some(p), Some(q)) => format!("{p}?{q}").parse().map_err(|e| bad_rewrite(&e))?,
        (Some(p), None) => p.parse().map_err(|e| bad_rewrite(&e))?,
    };
    let mut head =
        OutboundHead { method: parts.method.clone(), path_and_query, authority: out_authority, headers, upgrade };

    let replay = rule.retry.is_some() || !mirrors.is_empty();
    let mut out_body = if replay {
        match body::buffer_if_small(incoming, REPLAY_LIMIT).await {
            Ok(Err(e)) if body::over_limit(e.as_ref()) => return Err(body_too_large(max_body.unwrap_or_default())),
            Ok(Ok(bytes)) => OutboundBody::Buffered(bytes),
            Ok(Err(e)) => {
                return Err(ProxyError {
                    side: super::error::Side::Downstream,
                    status: StatusCode::BAD_REQUEST,
                    retryable: false,
                    sent: false,
                    message: format!("reading the request body failed: {e}"),
                });
            }
            Err(stream) => OutboundBody::Stream(stream),
        }
    } else {
        OutboundBody::Stream(incoming)
    };
    for m in mirrors {
        let copy = match &out_body {
            OutboundBody::Buffered(b) => Some(b.clone()),
            OutboundBody::Stream(_) | OutboundBody::Taken => None,
        };
        mirror::spawn(&shared.pools, m, &head, copy, timeouts.mirror.unwrap_or(mirror::MIRROR_DEADLINE));
    }

    // Phase 4: upstream, with retries and per-attempt timeouts.
    let mut retries = Retries::new(rule.retry.as_ref());
    let mut resends = 0;
    let mut resp = loop {
        let Some(b) = out_body.take() else {
            return Err(ProxyError::upstream("request body already consumed by a failed attempt", true));
        };
        // The last attempt takes the headers; earlier ones work on a copy.
        let mut headers = if retries.is_last() { std::mem::take(&mut head.headers) } else { head.headers.clone() };
        let attempt =
            labels.span.as_ref().map(|(s, _)| super::trace::attempt_span(s, &head.method, resends, &mut headers));
        resends += 1;
        let sent = Instant::now();
        let call = forward::send_picked(&shared.pools, &upstream, &head, headers, b);
        // A route without its own timeout waits 30 s for the response head, or what a
        // TrafficPolicy's `timeouts.responseHeader` says (docs/hardening.md).
        let limit = rule.timeouts.backend_request.or(timeouts.response_header).unwrap_or(DEFAULT_RESPONSE_HEADER);
        let result = deadline::within(limit, call, |limit| {
            ProxyError::timeout(format!("backend request timeout of {limit:?} reached"))
        })
        .await;
        let replayable = matches!(out_body, OutboundBody::Buffered(_));
        if let Some(log) = labels.log.as_mut() {
            log.attempts += 1;
        }
        if let Some(span) = attempt {
            let outcome = result.as_ref().map(|(r, i)| (r.status(), upstream.endpoints.get(*i))).map_err(|e| e.status);
            super::trace::attempt_done(span, outcome);
        }
        match result {
            Ok((resp, index)) => {
                labels.series(&shared.metrics).record_upstream(sent.elapsed());
                if let Some(log) = labels.log.as_mut() {
                    log.upstream = Some(sent.elapsed());
                    log.endpoint = upstream.endpoints.get(index).map(ToString::to_string);
                }
                if retries.retries_status(resp.status()) && retries.again(replayable).await {
                    shared.metrics.record_upstream_error(&backend.name, "retryable_status");
                    continue;
                }
                break resp;
            }
            Err(e) => {
                shared.metrics.record_upstream_error(
                    &backend.name,
                    if e.status == StatusCode::GATEWAY_TIMEOUT { "timeout" } else { "connect" },
                );
                if e.retryable && retries.again(replayable).await {
                    continue;
                }
                return Err(e);
            }
        }
    };

    if upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        splice_upgrade(downstream_upgrade, hyper::upgrade::on(&mut resp));
    }

    // Phase 5: response filters.
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers, rparts.status == StatusCode::SWITCHING_PROTOCOLS);
    limit_headers.write(&mut rparts.headers, false);
    for m in response_mods.iter().rev() {
        filters::headers::apply(m, &mut rparts.headers);
    }
    if let Some(c) = cors_filter {
        cors::decorate(c, origin.as_ref(), &mut rparts.headers);
    }
    let body_idle = match timeouts.body_idle {
        Some(d) => (!d.is_zero()).then_some(d),
        None => shared.body_idle(),
    };
    Ok(Response::from_parts(rparts, idle::bounded(body::from_incoming(rbody), body_idle)))
}

fn bad_rewrite(e: &dyn std::fmt::Display) -> ProxyError {
    ProxyError::internal(StatusCode::INTERNAL_SERVER_ERROR, format!("the rewritten path is not valid: {e}"))
}

fn pick_backend(backends: &[Backend]) -> Result<&Backend, ProxyError> {
    weighted::pick(backends, |b| b.weight).ok_or_else(|| {
        ProxyError::internal(StatusCode::INTERNAL_SERVER_ERROR, "the rule has no backend with a weight above zero")
    })
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::UPGRADE)
        && headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The tokens of every `Connection` header, lower-cased.
fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Removes the headers a client's `Connection` names, and the names from it: only its
/// `upgrade`, `close` and `keep-alive` tokens stay (the upgrade decision reads them).
fn drop_connection_listed(headers: &mut HeaderMap) {
    if !headers.contains_key(http::header::CONNECTION) {
        return;
    }
    let (kept, listed): (Vec<String>, Vec<String>) =
        connection_tokens(headers).into_iter().partition(|t| matches!(t.as_str(), "upgrade" | "close" | "keep-alive"));
    for name in &listed {
        if name != "connection" {
            headers.remove(name.as_str());
        }
    }
    headers.remove(http::header::CONNECTION);
    if let Ok(v) = HeaderValue::from_str(&kept.join(", "))
        && !kept.is_empty()
    {
        headers.insert(http::header::CONNECTION, v);
    }
}

/// Removes hop-by-hop headers; an upgrade keeps `Connection: upgrade` and `Upgrade`.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    const ALWAYS: [HeaderName; 5] = [
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        http::header::TE,
        http::header::TRAILER,
        http::header::TRANSFER_ENCODING,
    ];
    for name in connection_tokens(headers) {
        if !(upgrade && name == "upgrade") {
            headers.remove(name.as_str());
        }
    }
    for name in ALWAYS {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(http::header::CONNECTION);
        headers.remove(http::header::UPGRADE);
    }
}

fn add_forwarded(headers: &mut HeaderMap, conn: &ConnInfo) {
    let ip = conn.remote.ip().to_string();
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", v);
    }
    headers
        .insert("x-forwarded-proto", HeaderValue::from_static(if conn.scheme == "https" { "https" } else { "http" }));
}

/// Joins the two upgraded connections (websocket and the like) once both sides switched.
fn splice_upgrade(downstream: Option<hyper::upgrade::OnUpgrade>, upstream: hyper::upgrade::OnUpgrade) {
    let Some(downstream) = downstream else { return };
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut down = hyper_util::rt::TokioIo::new(down);
        let mut up = hyper_util::rt::TokioIo::new(up);
        if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
    });
}

/// A request's declared body length.
fn declared_length(h: &HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `413`: the body is over the route's limit.
fn body_too_large(max: u64) -> ProxyError {
    ProxyError {
        side: super::error::Side::Downstream,
        status: StatusCode::PAYLOAD_TOO_LARGE,
        retryable: false,
        sent: false,
        message: format!("the request body is larger than this route takes ({max} bytes)"),
    }
}

#[cfg(test)]
mod future_sizes {
    //! Every open stream holds its handler's future: what its states hold is memory per stream
    //! (P4). Sizes are printed (`cargo test --release --lib future_sizes -- --nocapture`); what
    //! is asserted is the shape, in any build: the route's work (`serve`) is held once. An
    //! `async fn` wrapper that keeps its work argument beside the state awaiting it held it two
    //! to three times (route 28,320 bytes against serve's 9,160).

    fn returned3<F: FnOnce(A, B, C) -> R, A, B, C, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }
    fn returned5<F: FnOnce(A, B, C, D, E) -> R, A, B, C, D, E, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }
    fn returned7<F: FnOnce(A, B, C, D, E, G, H) -> R, A, B, C, D, E, G, H, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn future_sizes() {
        let (handle, route, serve) = (returned3(&super::handle), returned5(&super::route), returned7(&super::serve));
        eprintln!("proxy::handler::handle {handle}");
        eprintln!("proxy::handler::route {route}");
        eprintln!("proxy::handler::serve {serve}");
        eprintln!("policy::PolicyLayer::admit {}", returned5(&crate::policy::PolicyLayer::admit));
        eprintln!("proxy::forward::send_picked {}", returned5(&crate::proxy::forward::send_picked));
        assert!(route < 2 * serve && handle < 2 * serve, "the route's work is held more than once: {route} / {serve}");
    }
}
