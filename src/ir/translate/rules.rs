//! HTTPRoute rules compiled into matches, filters, backends, timeouts and retries.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, StatusCode};
use regex::Regex;

use super::backend::{BackendRefArgs, BackendResolver};
use super::duration;
use super::refs::RefFailure;
use crate::api::{self, HttpRoute, HttpRouteFilter, HttpRouteRule};
use crate::ir::ObjectKey;
use crate::ir::filter::{Cors, Filter, HeaderModifier, Mirror, PathModifier, Redirect, Rewrite};
use crate::ir::route::{
    HeaderMatch, PathMatch, QueryMatch, Retry, RouteMatch, RouteRule, RulePipeline, Timeouts, ValueMatch,
};

/// One compiled rule with its matches (a rule without matches matches every path).
pub struct CompiledRule {
    pub index: usize,
    pub rule: Arc<RouteRule>,
    pub matches: Vec<RouteMatch>,
}

/// The outcome for a whole route: rules, or the reason it cannot be accepted; and the first
/// unresolved reference.
pub struct CompiledRoute {
    pub rules: Result<Vec<CompiledRule>, String>,
    pub unresolved: Option<RefFailure>,
}

pub fn compile_route(route: &HttpRoute, resolver: &mut BackendResolver<'_, '_>) -> CompiledRoute {
    let key = ObjectKey::new(route.metadata.namespace(), route.metadata.name());
    let mut unresolved = None;
    let mut rules = Vec::new();
    for (i, r) in route.spec.rules.iter().enumerate() {
        match compile_rule(&key, i, r, resolver, &mut unresolved) {
            Ok(c) => rules.push(c),
            Err(e) => {
                return CompiledRoute { rules: Err(format!("rules[{i}]: {e}")), unresolved };
            }
        }
    }
    CompiledRoute { rules: Ok(rules), unresolved }
}

fn compile_rule(
    key: &ObjectKey,
    index: usize,
    r: &HttpRouteRule,
    resolver: &mut BackendResolver<'_, '_>,
    unresolved: &mut Option<RefFailure>,
) -> Result<CompiledRule, String> {
    let matches = if r.matches.is_empty() {
        vec![RouteMatch {
            path: PathMatch::Prefix(String::new()),
            path_len: 1,
            method: None,
            headers: vec![],
            query: vec![],
        }]
    } else {
        r.matches
            .iter()
            .enumerate()
            .map(|(i, m)| compile_match(m).map_err(|e| format!("matches[{i}]: {e}")))
            .collect::<Result<_, _>>()?
    };
    if r.session_persistence.is_some() {
        return Err("sessionPersistence is not supported yet".into());
    }
    let has_redirect = r.filters.iter().any(|f| f.r#type == "RequestRedirect");
    let has_rewrite = r.filters.iter().any(|f| f.r#type == "URLRewrite");
    if has_redirect && has_rewrite {
        return Err("RequestRedirect and URLRewrite cannot be used together".into());
    }
    let prefix_only = matches.iter().all(|m| matches!(m.path, PathMatch::Prefix(_)));
    let mut filters = Vec::new();
    for (i, f) in r.filters.iter().enumerate() {
        filters.push(compile_filter(f, prefix_only, resolver, unresolved).map_err(|e| format!("filters[{i}]: {e}"))?);
    }
    let mut backends = Vec::new();
    for (i, b) in r.backend_refs.iter().enumerate() {
        let mut bfilters = Vec::new();
        for (j, f) in b.filters.iter().enumerate() {
            let compiled = compile_filter(f, prefix_only, resolver, unresolved)
                .map_err(|e| format!("backendRefs[{i}].filters[{j}]: {e}"))?;
            match compiled {
                Filter::RequestHeaders(_) | Filter::ResponseHeaders(_) => bfilters.push(compiled),
                _ => {
                    return Err(format!(
                        "backendRefs[{i}].filters[{j}]: only header modifier filters are supported on backendRefs"
                    ));
                }
            }
        }
        let weight = u32::try_from(b.weight.unwrap_or(1))
            .map_err(|_| format!("backendRefs[{i}]: weight must not be negative"))?;
        let (backend, failure) = resolver.resolve(BackendRefArgs {
            group: b.group.as_deref().unwrap_or(""),
            kind: b.kind.as_deref().unwrap_or("Service"),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
            weight,
            filters: bfilters,
        });
        if let Some(f) = failure {
            unresolved.get_or_insert(f);
        }
        backends.push(backend);
    }
    let timeouts = match &r.timeouts {
        None => Timeouts::default(),
        Some(t) => Timeouts {
            request: opt_duration(t.request.as_deref())?,
            backend_request: opt_duration(t.backend_request.as_deref())?,
        },
    };
    let retry = match &r.retry {
        None => None,
        Some(rt) => Some(Retry {
            codes: rt.codes.clone(),
            attempts: u32::try_from(rt.attempts.unwrap_or(1)).map_err(|_| "retry.attempts must not be negative")?,
            backoff: opt_duration(rt.backoff.as_deref())?,
        }),
    };
    let name = r.name.clone().unwrap_or_else(|| index.to_string());
    let label: Arc<str> = Arc::from(format!("{key}/{name}"));
    let pipeline = RulePipeline::of(&backends);
    if let RulePipeline::Mixed(why) = &pipeline {
        unresolved.get_or_insert(("InvalidKind".into(), format!("rules[{index}]: {why}")));
    }
    let rule = RouteRule {
        route: key.clone(),
        name,
        filters,
        backends,
        timeouts,
        retry,
        label,
        metrics: Default::default(),
        pipeline,
    };
    Ok(CompiledRule { index, rule: Arc::new(rule), matches })
}

/// A zero duration disables the timeout.
fn opt_duration(s: Option<&str>) -> Result<Option<std::time::Duration>, String> {
    match s {
        None => Ok(None),
        Some(s) => duration::parse(s).map(|d| (!d.is_zero()).then_some(d)),
    }
}

fn compile_match(m: &api::HttpRouteMatch) -> Result<RouteMatch, String> {
    let path = match &m.path {
        None => PathMatch::Prefix(String::new()),
        Some(p) => {
            let v = p.value();
            match p.match_type() {
                "Exact" => {
                    if !v.starts_with('/') {
                        return Err(format!("path {v:?} must start with '/'"));
                    }
                    PathMatch::Exact(v.to_string())
                }
                "PathPrefix" => {
                    if !v.starts_with('/') {
                        return Err(format!("path prefix {v:?} must start with '/'"));
                    }
                    PathMatch::Prefix(v.trim_end_matches('/').to_string())
                }
                "RegularExpression" => PathMatch::Regex(anchored(v)?),
                other => return Err(format!("path match type {other:?} is not supported")),
            }
        }
    };
    let method = match &m.method {
        None => None,
        Some(s) => Some(Method::from_bytes(s.as_bytes()).map_err(|_| format!("invalid method {s:?}"))?),
    };
    let mut headers: Vec<HeaderMatch> = Vec::new();
    for h in &m.headers {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| format!("invalid header name {:?}", h.name))?;
        // Only the first match of a header name counts.
        if headers.iter().any(|x| x.name == name) {
            continue;
        }
        headers.push(HeaderMatch { name, value: value_match(h.match_type(), &h.value)? });
    }
    let mut query: Vec<QueryMatch> = Vec::new();
    for q in &m.query_params {
        if query.iter().any(|x| x.name == q.name) {
            continue;
        }
        query.push(QueryMatch { name: q.name.clone(), value: value_match(q.match_type(), &q.value)? });
    }
    let path_len = m.path.as_ref().map_or(1, |p| p.value().len());
    Ok(RouteMatch { path, path_len, method, headers, query })
}

fn value_match(ty: &str, v: &str) -> Result<ValueMatch, String> {
    match ty {
        "Exact" => Ok(ValueMatch::Exact(v.to_string())),
        "RegularExpression" => Ok(ValueMatch::Regex(anchored(v)?)),
        other => Err(format!("match type {other:?} is not supported")),
    }
}

/// Regular expressions match the whole value.
fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

fn header_modifier(f: Option<&api::HttpHeaderFilter>, what: &str) -> Result<HeaderModifier, String> {
    let f = f.ok_or_else(|| format!("filter type {what} needs its settings"))?;
    let pair = |h: &api::HttpHeader| -> Result<(HeaderName, HeaderValue), String> {
        Ok((
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| format!("invalid header name {:?}", h.name))?,
            HeaderValue::from_str(&h.value).map_err(|_| format!("invalid header value for {:?}", h.name))?,
        ))
    };
    Ok(HeaderModifier {
        set: f.set.iter().map(pair).collect::<Result<_, _>>()?,
        add: f.add.iter().map(pair).collect::<Result<_, _>>()?,
        remove: f
            .remove
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("invalid header name {n:?}")))
            .collect::<Result<_, _>>()?,
    })
}

fn path_modifier(p: &api::HttpPathModifier, prefix_only: bool) -> Result<PathModifier, String> {
    match p.r#type {
        api::HttpPathModifierType::ReplaceFullPath => {
            Ok(PathModifier::Full(p.replace_full_path.clone().ok_or("ReplaceFullPath needs replaceFullPath")?))
        }
        api::HttpPathModifierType::ReplacePrefixMatch => {
            if !prefix_only {
                return Err("ReplacePrefixMatch needs every match of the rule to be a PathPrefix match".into());
            }
            Ok(PathModifier::Prefix(
                p.replace_prefix_match.clone().ok_or("ReplacePrefixMatch needs replacePrefixMatch")?,
            ))
        }
    }
}

fn compile_filter(
    f: &HttpRouteFilter,
    prefix_only: bool,
    resolver: &mut BackendResolver<'_, '_>,
    unresolved: &mut Option<RefFailure>,
) -> Result<Filter, String> {
    match f.r#type.as_str() {
        "RequestHeaderModifier" => {
            Ok(Filter::RequestHeaders(header_modifier(f.request_header_modifier.as_ref(), "RequestHeaderModifier")?))
        }
        "ResponseHeaderModifier" => {
            Ok(Filter::ResponseHeaders(header_modifier(f.response_header_modifier.as_ref(), "ResponseHeaderModifier")?))
        }
        "RequestRedirect" => {
            let r = f.request_redirect.as_ref().ok_or("RequestRedirect needs requestRedirect")?;
            let status = StatusCode::from_u16(r.status_code()).map_err(|_| "invalid redirect status code")?;
            if ![301, 302, 303, 307, 308].contains(&status.as_u16()) {
                return Err(format!("redirect status code {} is not supported", status.as_u16()));
            }
            Ok(Filter::Redirect(Redirect {
                scheme: r.scheme.map(|s| s.as_str().to_string()),
                hostname: r.hostname.clone(),
                port: r.port,
                path: r.path.as_ref().map(|p| path_modifier(p, prefix_only)).transpose()?,
                status,
            }))
        }
        "URLRewrite" => {
            let r = f.url_rewrite.as_ref().ok_or("URLRewrite needs urlRewrite")?;
            Ok(Filter::Rewrite(Rewrite {
                hostname: r.hostname.clone(),
                path: r.path.as_ref().map(|p| path_modifier(p, prefix_only)).transpose()?,
            }))
        }
        "RequestMirror" => {
            let m = f.request_mirror.as_ref().ok_or("RequestMirror needs requestMirror")?;
            let fraction = match (&m.percent, &m.fraction) {
                (Some(p), _) => f64::from(*p) / 100.0,
                (None, Some(fr)) => {
                    let d = fr.denominator.unwrap_or(100);
                    if d <= 0 {
                        return Err("requestMirror.fraction.denominator must be positive".into());
                    }
                    f64::from(fr.numerator) / f64::from(d)
                }
                (None, None) => 1.0,
            };
            let b = &m.backend_ref;
            let (backend, failure) = resolver.resolve(BackendRefArgs::of(b));
            if let Some(f) = failure {
                unresolved.get_or_insert(f);
            }
            Ok(Filter::Mirror(Mirror { backend: Box::new(backend), fraction: fraction.clamp(0.0, 1.0) }))
        }
        "CORS" => {
            let c = f.cors.as_ref().ok_or("CORS needs cors")?;
            Ok(Filter::Cors(Cors {
                allow_origins: c.allow_origins.clone(),
                allow_methods: c.allow_methods.clone(),
                allow_headers: c.allow_headers.clone(),
                expose_headers: c.expose_headers.clone(),
                allow_credentials: c.allow_credentials.unwrap_or(false),
                max_age: Some(std::time::Duration::from_secs(u64::try_from(c.max_age()).unwrap_or(5))),
            }))
        }
        "ExternalAuth" => {
            let e = f.external_auth.as_ref().ok_or("ExternalAuth needs externalAuth")?;
            if e.forward_body.is_some() {
                return Err("externalAuth.forwardBody is not supported yet".into());
            }
            let settings =
                crate::api::ExternalAuth { filter: e.clone(), timeout: None, fail_open: None, identity_header: None };
            match super::policy::external_auth(resolver.ix, resolver.route_ns, &settings) {
                Ok(ir) => Ok(Filter::ExternalAuth(std::sync::Arc::new(ir))),
                Err((reason, message)) if reason == "UnsupportedValue" => Err(format!("externalAuth: {message}")),
                Err(failure) => {
                    unresolved.get_or_insert(failure);
                    Err("externalAuth: its backendRef does not resolve".into())
                }
            }
        }
        other => Err(format!("filter type {other:?} is not supported")),
    }
}
