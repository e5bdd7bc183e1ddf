//! TrafficPolicy attachment (GEP-713): each policy's sections compiled once, its targets
//! resolved, and the effective policy of a route rule on a listener merged section by section,
//! the most specific attachment first: rule > route > backend > listener > gateway. Two
//! policies on the same target that set the same section: the older one (creation time, then
//! namespace/name) wins, the other is reported `Conflicted` for it.

mod authn;
mod authz;
mod guards;
mod limits;
mod service;

pub use authn::{api_key, external as external_auth, htpasswd};
pub use authz::compile as authz;
pub use guards::compile as guards;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::index::Index;
use super::refs::{RefFailure, invalid};
use super::{CONTROLLER_NAME, Context, status_entry};
use crate::api::{GATEWAY_GROUP, SLUICE_GROUP, TrafficPolicy};
use crate::ir::ObjectKey;
use crate::ir::policy::{
    ACCESS_LOG_FIELDS, AccessLogIr, ConnectionsIr, IdentityHeadersIr, McpAuthIr, PolicyIr, UpstreamTimeoutsIr,
};
use crate::ir::route::{RouteRule, RulePipeline};
use crate::ir::status::ResourceStatus;
use crate::ir::status::{Conditions, StatusReport};

/// What a policy attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Gateway(ObjectKey),
    Listener(ObjectKey, String),
    Route(ObjectKey),
    Rule(ObjectKey, String),
    AiBackend(ObjectKey),
    McpBackend(ObjectKey),
}

/// The sections of one policy, compiled.
#[derive(Default)]
struct Sections {
    set: PolicyIr,
    /// Gateway-wide: never part of a route's effective policy.
    connections: Option<Arc<ConnectionsIr>>,
}

/// Sections merged into each route rule's effective policy.
const SECTIONS: [&str; 12] = [
    "authentication",
    "authorization",
    "models",
    "identityHeaders",
    "mcpAuthorization",
    "rateLimits",
    "guards",
    "shaping",
    "budgets",
    "requestBody",
    "timeouts",
    "accessLog",
];

/// Sections of a whole Gateway.
const GATEWAY_SECTIONS: [&str; 1] = ["connections"];

struct Compiled<'a> {
    policy: &'a TrafficPolicy,
    key: ObjectKey,
    sections: Result<Sections, RefFailure>,
    targets: Vec<Result<Target, RefFailure>>,
    /// Sections this policy set that an older policy on the same target set first.
    conflicts: Vec<String>,
}

pub struct Policies<'a> {
    compiled: Vec<Compiled<'a>>,
    /// Policies by target, oldest first.
    by_target: HashMap<Target, Vec<usize>>,
}

impl<'a> Policies<'a> {
    pub fn new(ix: &Index<'a>) -> Self {
        let mut compiled: Vec<Compiled<'a>> = ix
            .traffic_policies
            .iter()
            .map(|p| {
                let ns = p.metadata.namespace();
                Compiled {
                    policy: p,
                    key: ObjectKey::new(ns, p.metadata.name()),
                    sections: compile(ix, ns, p),
                    targets: p.spec.target_refs.iter().map(|t| target(ix, ns, t)).collect(),
                    conflicts: vec![],
                }
            })
            .collect();
        // Oldest first: creation time, then namespace/name.
        let mut order: Vec<usize> = (0..compiled.len()).collect();
        order.sort_by(|&a, &b| {
            let age =
                |c: &Compiled<'_>| (c.policy.metadata.creation_timestamp.clone().unwrap_or_default(), c.key.clone());
            age(&compiled[a]).cmp(&age(&compiled[b]))
        });
        let mut by_target: HashMap<Target, Vec<usize>> = HashMap::new();
        for i in order {
            if compiled[i].sections.is_err() {
                continue;
            }
            for t in compiled[i].targets.iter().flatten() {
                by_target.entry(t.clone()).or_default().push(i);
            }
        }
        // Conflicts: a later policy on the same target setting a section already set.
        for policies in by_target.values() {
            for (n, &i) in policies.iter().enumerate() {
                for section in SECTIONS.into_iter().chain(GATEWAY_SECTIONS) {
                    if !sets(&compiled[i], section) {
                        continue;
                    }
                    if let Some(&winner) = policies[..n].iter().find(|&&w| sets(&compiled[w], section)) {
                        let msg = format!(
                            "{section} is set by the older TrafficPolicy {} on the same target",
                            compiled[winner].key
                        );
                        if !compiled[i].conflicts.contains(&msg) {
                            compiled[i].conflicts.push(msg);
                        }
                    }
                }
            }
        }
        Policies { compiled, by_target }
    }

    /// The effective policy of `rule` served on `listener` of `gateway`; `None` when no policy
    /// applies.
    pub fn effective(&self, gateway: &ObjectKey, listener: &str, rule: &RouteRule) -> Option<Arc<PolicyIr>> {
        if self.by_target.is_empty() {
            return None;
        }
        let mut levels: Vec<Target> =
            vec![Target::Rule(rule.route.clone(), rule.name.clone()), Target::Route(rule.route.clone())];
        match &rule.pipeline {
            RulePipeline::Ai(backends) => levels.extend(backends.iter().map(|b| Target::AiBackend(b.key.clone()))),
            RulePipeline::Mcp(route) => levels.extend(route.backends.iter().map(|b| Target::McpBackend(b.key.clone()))),
            RulePipeline::Proxy | RulePipeline::Mixed(_) => {}
        }
        levels.push(Target::Listener(gateway.clone(), listener.to_string()));
        levels.push(Target::Gateway(gateway.clone()));
        let mut out = PolicyIr::default();
        for section in SECTIONS {
            let winner = levels
                .iter()
                .filter_map(|t| self.by_target.get(t))
                .flat_map(|v| v.iter())
                .find(|&&i| sets(&self.compiled[i], section));
            if let Some(&i) = winner {
                take(&mut out, &self.compiled[i], section);
            }
        }
        (!out.is_empty()).then(|| Arc::new(out))
    }

    /// The connection bounds of `gateway`'s ports: its oldest policy's that sets them.
    pub fn connections(&self, gateway: &ObjectKey) -> Arc<ConnectionsIr> {
        self.by_target
            .get(&Target::Gateway(gateway.clone()))
            .into_iter()
            .flatten()
            .find_map(|&i| self.compiled[i].sections.as_ref().ok().and_then(|s| s.connections.clone()))
            .unwrap_or_default()
    }

    /// Each policy's status: one ancestor per target, with its Accepted condition.
    pub fn report(&self, ctx: &Context, report: &mut StatusReport) {
        for c in &self.compiled {
            let conds = Conditions::new(c.policy.metadata.generation(), &ctx.now);
            let ancestors: Vec<serde_json::Value> = c
                .policy
                .spec
                .target_refs
                .iter()
                .zip(&c.targets)
                .map(|(r, t)| {
                    let accepted = match (&c.sections, t) {
                        (Err((_, m)), _) => conds.make("Accepted", false, "Invalid", m.clone()),
                        (Ok(_), Err((_, m))) => conds.make("Accepted", false, "TargetNotFound", m.clone()),
                        (Ok(_), Ok(_)) if !c.conflicts.is_empty() => {
                            conds.make("Accepted", false, "Conflicted", c.conflicts.join("; "))
                        }
                        (Ok(_), Ok(_)) => conds.make("Accepted", true, "Accepted", "policy accepted"),
                    };
                    let mut ancestor = serde_json::json!({
                        "group": r.group, "kind": r.kind, "namespace": c.key.namespace, "name": r.name,
                    });
                    if let Some(s) = &r.section_name {
                        ancestor["sectionName"] = serde_json::json!(s);
                    }
                    serde_json::json!({"ancestorRef": ancestor, "controllerName": CONTROLLER_NAME, "conditions": [accepted]})
                })
                .collect();
            let mut status: ResourceStatus =
                status_entry("TrafficPolicy", &c.policy.metadata, serde_json::json!({"ancestors": ancestors}), true);
            status.api_version = "sluice.dev/v1alpha1".into();
            report.resources.push(status);
        }
    }
}

fn sets(c: &Compiled<'_>, section: &str) -> bool {
    c.sections.as_ref().is_ok_and(|s| s.set.sources.contains_key(section))
}

/// Copies one section of a policy into the effective one.
fn take(out: &mut PolicyIr, c: &Compiled<'_>, section: &'static str) {
    let Ok(s) = &c.sections else { return };
    let s = &s.set;
    match section {
        "authentication" => out.authentication = s.authentication.clone(),
        "authorization" => out.authorization = s.authorization.clone(),
        "models" => out.models = s.models.clone(),
        "identityHeaders" => out.identity_headers = s.identity_headers.clone(),
        "mcpAuthorization" => out.mcp_authorization = s.mcp_authorization.clone(),
        "rateLimits" => out.rate_limits = s.rate_limits.clone(),
        "guards" => out.guards = s.guards.clone(),
        "shaping" => out.shaping = s.shaping.clone(),
        "budgets" => out.budgets = s.budgets.clone(),
        "requestBody" => out.max_request_body = s.max_request_body,
        "timeouts" => out.timeouts = s.timeouts,
        "accessLog" => out.access_log = s.access_log.clone(),
        _ => return,
    }
    out.sources.insert(section, c.key.to_string());
}

fn compile(ix: &Index<'_>, ns: &str, p: &TrafficPolicy) -> Result<Sections, RefFailure> {
    let spec = &p.spec;
    if spec.target_refs.is_empty() {
        return Err(invalid("spec.targetRefs: at least one target"));
    }
    let mut set = PolicyIr::default();
    let key = ObjectKey::new(ns, p.metadata.name()).to_string();
    if let Some(a) = &spec.authentication {
        set.authentication = Some(Arc::new(authn::compile(ix, ns, a)?));
        set.sources.insert("authentication", key.clone());
    }
    if let Some(a) = &spec.authorization {
        set.authorization = Some(Arc::new(authz::compile(a)?));
        set.sources.insert("authorization", key.clone());
    }
    if let Some(m) = &spec.models {
        set.models = Some(m.clone().into());
        set.sources.insert("models", key.clone());
    }
    if let Some(h) = &spec.identity_headers {
        let name = |h: &str, field: &str| {
            HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                .map_err(|_| invalid(format!("spec.identityHeaders.{field}: {h:?} is not a header name")))
        };
        let attributes = h
            .attributes
            .iter()
            .map(|(attr, header)| Ok((attr.clone(), name(header, &format!("attributes.{attr}"))?)))
            .collect::<Result<Vec<_>, RefFailure>>()?;
        let name = h.name.as_deref().map(|n| name(n, "name")).transpose()?;
        set.identity_headers = Some(Arc::new(IdentityHeadersIr { name, attributes }));
        set.sources.insert("identityHeaders", key.clone());
    }
    if let Some(m) = &spec.mcp_authorization {
        if m.authorization_servers.is_empty() {
            return Err(invalid("spec.mcpAuthorization.authorizationServers: at least one"));
        }
        set.mcp_authorization = Some(Arc::new(McpAuthIr {
            authorization_servers: m.authorization_servers.clone(),
            resource: m.resource.clone(),
            scopes_supported: m.scopes_supported.clone(),
        }));
        set.sources.insert("mcpAuthorization", key.clone());
    }
    if let Some(limits) = &spec.rate_limits {
        set.rate_limits = Some(limits::compile(&key, limits)?.into());
        set.sources.insert("rateLimits", key.clone());
    }
    if let Some(g) = &spec.guards {
        set.guards = Some(guards::compile_in(Some((ix, ns)), g)?.into());
        set.sources.insert("guards", key.clone());
    }
    if let Some(sh) = &spec.shaping {
        for (i, m) in sh.prepend.iter().chain(&sh.append).enumerate() {
            if m.role != "system" && m.role != "user" {
                return Err(invalid(format!("spec.shaping: message {i} has role {:?}; system or user", m.role)));
            }
        }
        set.shaping = Some(Arc::new(sh.clone()));
        set.sources.insert("shaping", key.clone());
    }
    if let Some(b) = &spec.budgets {
        set.budgets = Some(limits::budgets(&key, b)?.into());
        set.sources.insert("budgets", key.clone());
    }
    if let Some(b) = &spec.request_body {
        let max = quantity(&b.max_size).ok_or_else(|| {
            invalid(format!("spec.requestBody.maxSize: {:?} is not a size (`1048576`, `64Ki`, `10Mi`)", b.max_size))
        })?;
        set.max_request_body = Some(max);
        set.sources.insert("requestBody", key.clone());
    }
    if let Some(t) = &spec.timeouts {
        set.timeouts = Some(upstream_timeouts(t)?);
        set.sources.insert("timeouts", key.clone());
    }
    if let Some(a) = &spec.access_log {
        set.access_log = Some(Arc::new(access_log(a)?));
        set.sources.insert("accessLog", key.clone());
    }
    let mut connections = None;
    if let Some(c) = &spec.connections {
        let whole_gateway = |t: &crate::api::PolicyTargetRef| {
            t.group == GATEWAY_GROUP && t.kind == "Gateway" && t.section_name.is_none()
        };
        if !spec.target_refs.iter().all(whole_gateway) {
            return Err(invalid(
                "spec.connections: only a whole Gateway can be targeted (kind Gateway, no sectionName)",
            ));
        }
        connections = Some(Arc::new(connection_bounds(c)?));
        set.sources.insert("connections", key.clone());
    }
    if set.sources.is_empty() {
        return Err(invalid("spec: set at least one policy section"));
    }
    Ok(Sections { set, connections })
}

/// A duration field: a Gateway API duration.
fn duration_at(field: &str, s: &Option<String>) -> Result<Option<Duration>, RefFailure> {
    s.as_deref().map(|s| super::duration::parse(s).map_err(|e| invalid(format!("spec.{field}: {e}")))).transpose()
}

fn upstream_timeouts(t: &crate::api::UpstreamTimeouts) -> Result<UpstreamTimeoutsIr, RefFailure> {
    Ok(UpstreamTimeoutsIr {
        response_header: duration_at("timeouts.responseHeader", &t.response_header)?,
        body_idle: duration_at("timeouts.bodyIdle", &t.body_idle)?,
        mirror: duration_at("timeouts.mirror", &t.mirror)?,
    })
}

fn connection_bounds(c: &crate::api::Connections) -> Result<ConnectionsIr, RefFailure> {
    let d = ConnectionsIr::default();
    let h2 = c.http2.clone().unwrap_or_default();
    let positive = |field: &str, v: Option<Duration>, default: Duration| match v {
        Some(v) if v.is_zero() => Err(invalid(format!("spec.connections.{field}: must be more than 0s"))),
        v => Ok(v.unwrap_or(default)),
    };
    let header_list = match &h2.max_header_list_size {
        None => d.h2_max_header_list_size,
        Some(s) => quantity(s).and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1024).ok_or_else(|| {
            invalid(format!("spec.connections.http2.maxHeaderListSize: {s:?} is not a size from 1Ki to 4Gi"))
        })?,
    };
    if c.max_connections == Some(0) || h2.max_concurrent_streams == Some(0) {
        return Err(invalid("spec.connections: maxConnections and http2.maxConcurrentStreams must be at least 1"));
    }
    Ok(ConnectionsIr {
        max_connections: c.max_connections.map(|n| n as usize),
        header_read: positive(
            "headerReadTimeout",
            duration_at("connections.headerReadTimeout", &c.header_read_timeout)?,
            d.header_read,
        )?,
        tls_handshake: positive(
            "tlsHandshakeTimeout",
            duration_at("connections.tlsHandshakeTimeout", &c.tls_handshake_timeout)?,
            d.tls_handshake,
        )?,
        h2_keep_alive_interval: match duration_at("connections.http2.keepAliveInterval", &h2.keep_alive_interval)? {
            None => d.h2_keep_alive_interval,
            Some(z) if z.is_zero() => None,
            some => some,
        },
        h2_keep_alive_timeout: positive(
            "http2.keepAliveTimeout",
            duration_at("connections.http2.keepAliveTimeout", &h2.keep_alive_timeout)?,
            d.h2_keep_alive_timeout,
        )?,
        h2_max_concurrent_streams: h2.max_concurrent_streams.unwrap_or(d.h2_max_concurrent_streams),
        h2_max_header_list_size: header_list,
    })
}

/// A size in bytes: digits, with an optional Kubernetes quantity suffix (`Ki`, `Mi`, `Gi`, `Ti`;
/// `k`, `M`, `G`, `T`).
fn quantity(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s[..digits].parse().ok()?;
    let unit: u64 = match &s[digits..] {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn target(ix: &Index<'_>, ns: &str, t: &crate::api::PolicyTargetRef) -> Result<Target, RefFailure> {
    let key = ObjectKey::new(ns, t.name.clone());
    let missing = |what: &str| ("TargetNotFound".to_string(), format!("{what} {ns}/{} not found", t.name));
    match (t.group.as_str(), t.kind.as_str(), &t.section_name) {
        (GATEWAY_GROUP, "Gateway", section) => {
            let gw = ix.gateways.iter().find(|g| g.metadata.namespace() == ns && g.metadata.name() == t.name);
            let gw = gw.ok_or_else(|| missing("Gateway"))?;
            match section {
                None => Ok(Target::Gateway(key)),
                Some(s) if gw.spec.listeners.iter().any(|l| &l.name == s) => Ok(Target::Listener(key, s.clone())),
                Some(s) => Err(("TargetNotFound".into(), format!("Gateway {key} has no listener {s:?}"))),
            }
        }
        (GATEWAY_GROUP, "HTTPRoute", section) => {
            let r = ix.routes.iter().find(|r| r.metadata.namespace() == ns && r.metadata.name() == t.name);
            let r = r.ok_or_else(|| missing("HTTPRoute"))?;
            match section {
                None => Ok(Target::Route(key)),
                Some(s) if r.spec.rules.iter().any(|rule| rule.name.as_deref() == Some(s.as_str())) => {
                    Ok(Target::Rule(key, s.clone()))
                }
                Some(s) => Err(("TargetNotFound".into(), format!("HTTPRoute {key} has no rule named {s:?}"))),
            }
        }
        (SLUICE_GROUP, "AIBackend", None) => {
            ix.ai_backend(ns, &t.name).map(|_| Target::AiBackend(key)).ok_or_else(|| missing("AIBackend"))
        }
        (SLUICE_GROUP, "MCPBackend", None) => {
            ix.mcp_backend(ns, &t.name).map(|_| Target::McpBackend(key)).ok_or_else(|| missing("MCPBackend"))
        }
        (SLUICE_GROUP, "AIBackend" | "MCPBackend", Some(_)) => {
            Err(invalid(format!("targetRefs: {} {} takes no sectionName", t.kind, t.name)))
        }
        (g, k, _) => Err(invalid(format!(
            "targetRefs: {g}/{k} cannot be targeted (Gateway, HTTPRoute, AIBackend or MCPBackend)"
        ))),
    }
}

/// The effective policies of a translation, shared between the entries of one rule.
#[derive(Default)]
pub struct EffectiveCache {
    by_rule: BTreeMap<(usize, usize, usize), Option<Arc<PolicyIr>>>,
}

impl EffectiveCache {
    pub fn get(
        &mut self,
        policies: &Policies<'_>,
        gateway: &ObjectKey,
        slot: (usize, usize),
        listener: &str,
        rule: &Arc<RouteRule>,
    ) -> Option<Arc<PolicyIr>> {
        let k = (slot.0, slot.1, Arc::as_ptr(rule) as usize);
        self.by_rule.entry(k).or_insert_with(|| policies.effective(gateway, listener, rule)).clone()
    }
}

fn access_log(a: &crate::api::AccessLog) -> Result<AccessLogIr, RefFailure> {
    let fields = match &a.fields {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    ACCESS_LOG_FIELDS.iter().find(|f| **f == n.as_str()).copied().ok_or_else(|| {
                        invalid(format!(
                            "spec.accessLog.fields: {n:?} is not a field; the fields are {}",
                            ACCESS_LOG_FIELDS.join(", ")
                        ))
                    })
                })
                .collect::<Result<Arc<[_]>, _>>()?,
        ),
    };
    let sampling = a.sampling.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sampling) {
        return Err(invalid(format!("spec.accessLog.sampling: {sampling} is not between 0 and 1")));
    }
    let statuses = a
        .statuses
        .iter()
        .flatten()
        .map(|s| {
            status_range(s)
                .ok_or_else(|| invalid(format!("spec.accessLog.statuses: {s:?} is not `404`, `5xx` or `400-499`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let path = a.path.as_deref().map(Arc::from);
    // The prompt is logged only when `fields` names it.
    let prompt = fields.as_ref().is_some_and(|f| f.contains(&"prompt"));
    Ok(AccessLogIr { path, fields, sampling, statuses, prompt })
}

/// `404`, `5xx` or `400-499` as an inclusive range of statuses.
fn status_range(s: &str) -> Option<(u16, u16)> {
    let code = |c: &str| c.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    if let Some((lo, hi)) = s.split_once('-') {
        return code(lo).zip(code(hi)).filter(|(lo, hi)| lo <= hi);
    }
    if let Some(class) = s.strip_suffix("xx") {
        let c = class.parse::<u16>().ok().filter(|c| (1..=5).contains(c))?;
        return Some((c * 100, c * 100 + 99));
    }
    code(s).map(|c| (c, c))
}
