//! Compiled route tables: per listener, the routes grouped by hostname and sorted once, at
//! translation time, in the Gateway API's precedence order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use regex::Regex;
use serde::Serialize;

use super::BackendTarget;
use super::ObjectKey;
use super::backend::Backend;
use super::filter::Filter;
use super::hostname;
mod index;

use self::index::{MIN_INDEXED, PathIndex};

/// The routes of one listener. Hostname groups are tried from the most specific to the least;
/// the first group whose hostname covers the request host is the only one consulted (like a
/// virtual host), and inside it the first entry whose match holds wins.
#[derive(Debug, Default, Serialize)]
pub struct RouteTable {
    pub groups: Vec<HostGroup>,
    #[serde(skip)]
    exact: HashMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct HostGroup {
    /// `None`: the routes that accept any host the listener accepts.
    pub hostname: Option<String>,
    pub entries: Vec<RouteEntry>,
    /// Built for large groups: finds the entry without scanning them all.
    #[serde(skip)]
    index: Option<PathIndex>,
}

impl HostGroup {
    /// A group of entries in precedence order.
    pub fn new(hostname: Option<String>, entries: Vec<RouteEntry>) -> HostGroup {
        let index = (entries.len() >= MIN_INDEXED).then(|| PathIndex::new(&entries));
        HostGroup { hostname, entries, index }
    }

    /// The first entry whose match holds for `req`.
    pub fn find(&self, req: &RequestView<'_>) -> Option<&RouteEntry> {
        match &self.index {
            Some(ix) => ix.find(&self.entries, req).map(|i| &self.entries[i]),
            None => self.entries.iter().find(|e| e.matcher.matches(req)),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RouteEntry {
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    pub rule: Arc<RouteRule>,
    /// The TrafficPolicy sections that apply to the rule on this listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Arc<super::policy::PolicyIr>>,
}

impl RouteTable {
    /// Builds the table; groups are sorted by hostname specificity. Entries must already be in
    /// precedence order.
    pub fn new(mut groups: Vec<HostGroup>) -> Self {
        groups.sort_by(|a, b| hostname::specificity(a.hostname.as_deref(), b.hostname.as_deref()));
        let exact = groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| match &g.hostname {
                Some(h) if !h.starts_with('*') => Some((h.clone(), i)),
                _ => None,
            })
            .collect();
        Self { groups, exact }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.entries.is_empty())
    }

    /// The hostname group for `host` (lower-case, no port).
    pub fn group_for(&self, host: &str) -> Option<&HostGroup> {
        if let Some(&i) = self.exact.get(host) {
            return self.groups.get(i);
        }
        self.groups.iter().find(|g| match &g.hostname {
            Some(h) if h.starts_with('*') => hostname::matches(h, host),
            Some(_) => false,
            None => true,
        })
    }

    /// The entry that serves a request, if any.
    pub fn find(&self, host: &str, req: &RequestView<'_>) -> Option<&RouteEntry> {
        self.group_for(host)?.find(req)
    }
}

/// The parts of a request that route matching reads.
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteMatch {
    pub path: PathMatch,
    /// Length of the path value as written (precedence: longer prefixes first).
    #[serde(skip)]
    pub path_len: usize,
    #[serde(serialize_with = "ser_method")]
    pub method: Option<Method>,
    pub headers: Vec<HeaderMatch>,
    pub query: Vec<QueryMatch>,
}

fn ser_method<S: serde::Serializer>(m: &Option<Method>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_some(m.as_str()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub enum PathMatch {
    Exact(String),
    /// Stored without its trailing slash ("" for "/"); matches on path-segment boundaries.
    Prefix(String),
    Regex(#[serde(with = "regex_str")] Regex),
}

#[derive(Debug, Clone, Serialize)]
pub enum ValueMatch {
    Exact(String),
    Regex(#[serde(with = "regex_str")] Regex),
}

#[derive(Debug, Clone, Serialize)]
pub struct HeaderMatch {
    #[serde(serialize_with = "ser_header_name")]
    pub name: http::HeaderName,
    pub value: ValueMatch,
}

fn ser_header_name<S: serde::Serializer>(n: &http::HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(n.as_str())
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryMatch {
    pub name: String,
    pub value: ValueMatch,
}

mod regex_str {
    pub fn serialize<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.as_str())
    }
}

impl PathMatch {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => p == path,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (path.len() == p.len() || path.as_bytes()[p.len()] == b'/' || p.is_empty())
            }
            PathMatch::Regex(r) => r.is_match(path),
        }
    }
}

impl ValueMatch {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(v) => v == value,
            ValueMatch::Regex(r) => r.is_match(value),
        }
    }
}

impl RouteMatch {
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        if !self.path.matches(req.path) {
            return false;
        }
        if let Some(m) = &self.method
            && m != req.method
        {
            return false;
        }
        self.headers.iter().all(|h| header_matches(h, req.headers))
            && self.query.iter().all(|q| query_matches(q, req.query))
    }
}

fn header_matches(m: &HeaderMatch, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(&m.name).iter();
    let Some(first) = values.next() else {
        return false;
    };
    let Ok(first) = first.to_str() else {
        return false;
    };
    match values.next() {
        None => m.value.matches(first),
        Some(_) => {
            let joined: Vec<&str> = headers.get_all(&m.name).iter().filter_map(|v| v.to_str().ok()).collect();
            m.value.matches(&joined.join(","))
        }
    }
}

fn query_matches(m: &QueryMatch, query: Option<&str>) -> bool {
    let Some(query) = query else { return false };
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == m.name).then_some(v)
        })
        .next()
        .is_some_and(|v| m.value.matches(&percent_decode(v)))
}

fn percent_decode(v: &str) -> String {
    if !v.contains('%') && !v.contains('+') {
        return v.to_string();
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// One rule of an HTTPRoute, with everything needed to serve it.
#[derive(Debug, Serialize)]
pub struct RouteRule {
    pub route: ObjectKey,
    /// `rules[].name`, or the rule's index.
    pub name: String,
    pub filters: Vec<Filter>,
    pub backends: Vec<Backend>,
    pub timeouts: Timeouts,
    pub retry: Option<Retry>,
    /// Metric label: `namespace/name/rule`.
    pub label: Arc<str>,
    /// The metric series of requests this rule answers without a backend.
    #[serde(skip)]
    pub metrics: super::RuntimeSlot,
    /// Where the rule's traffic goes, decided at config time from its backends' kinds.
    #[serde(skip)]
    pub pipeline: RulePipeline,
}

/// The pipeline that serves a rule: the proxy core for Services, the AI or MCP pipeline for
/// their backends. A rule whose backends are of more than one kind is refused at translation
/// (its route's `ResolvedRefs` condition names it) and answered 500.
#[derive(Debug, Clone, Default)]
pub enum RulePipeline {
    /// Services (or no backend at all): the proxy core forwards.
    #[default]
    Proxy,
    /// The rule's AIBackends.
    Ai(Arc<[Arc<super::ai::AiBackendIr>]>),
    /// The MCP endpoint the rule's MCPBackends (of weight > 0) make.
    Mcp(Arc<super::mcp::McpRoute>),
    /// Backends of several kinds; the reason, for the answer and the status.
    Mixed(Arc<str>),
}

impl RulePipeline {
    /// The pipeline of a rule with these backends (invalid ones do not count).
    pub fn of(backends: &[Backend]) -> RulePipeline {
        let mut ai = Vec::new();
        let (mut services, mut mcp) = (0, 0);
        for b in backends {
            match &b.target {
                BackendTarget::Ai(a) => ai.push(a.clone()),
                BackendTarget::Upstream(_) => services += 1,
                BackendTarget::Mcp(_) => mcp += 1,
                BackendTarget::Invalid { .. } => {}
            }
        }
        let kinds = [(services, "Service"), (ai.len(), "AIBackend"), (mcp, "MCPBackend")];
        let present: Vec<&str> = kinds.iter().filter(|(n, _)| *n > 0).map(|(_, k)| *k).collect();
        if present.len() > 1 {
            return RulePipeline::Mixed(Arc::from(format!(
                "the rule's backendRefs mix {}: a rule's backends must all be of one kind",
                present.join(" and ")
            )));
        }
        if !ai.is_empty() {
            return RulePipeline::Ai(ai.into());
        }
        match super::mcp::McpRoute::of(backends) {
            Some(route) => RulePipeline::Mcp(route),
            None => RulePipeline::Proxy,
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Timeouts {
    pub request: Option<Duration>,
    pub backend_request: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Retry {
    pub codes: Vec<u16>,
    pub attempts: u32,
    pub backoff: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_on_segment_boundaries() {
        let p = PathMatch::Prefix("/abc".into());
        assert!(p.matches("/abc"));
        assert!(p.matches("/abc/"));
        assert!(p.matches("/abc/def"));
        assert!(!p.matches("/abcd"));
        let root = PathMatch::Prefix(String::new());
        assert!(root.matches("/"));
        assert!(root.matches("/anything"));
    }

    #[test]
    fn query_values_are_decoded() {
        let m = QueryMatch { name: "animal".into(), value: ValueMatch::Exact("whale shark".into()) };
        assert!(query_matches(&m, Some("x=1&animal=whale%20shark")));
        assert!(!query_matches(&m, Some("Animal=whale%20shark")));
    }
}
