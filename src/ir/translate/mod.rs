//! Translation: typed resources in, one [`Snapshot`] out, with the status of every resource.
//! Pure: it reads no files and no clock but what [`Context`] gives it.

mod ai;
mod backend;
pub mod duration;
mod gateway;
pub mod index;
mod mcp;
mod policy;

pub use self::policy::{
    api_key as policy_api_key, authz as policy_authz, guards as policy_guards, htpasswd as policy_htpasswd,
};
mod refs;
mod route;
mod rules;
pub mod tls;
mod tlsroute;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use self::backend::{BackendResolver, PolicyUse};
use self::gateway::{GatewayState, is_ours};
use self::index::Index;
use self::route::SortKey;
use self::rules::CompiledRoute;
use crate::api::Resource;
use crate::ir::route::{HostGroup, RouteEntry, RouteTable};
use crate::ir::status::{CONTROLLER_NAME, Conditions, ResourceStatus, StatusMeta, StatusReport};
use crate::ir::{BindKey, Listener, ObjectKey, Port, Snapshot};

pub use self::gateway::SUPPORTED_FEATURES;

/// What translation needs from its surroundings.
pub struct Context {
    pub version: u64,
    /// RFC 3339 time stamped on conditions.
    pub now: String,
    /// The address Gateways get when they ask for none.
    pub default_address: IpAddr,
    /// Whether an address a Gateway asks for can be bound here.
    pub address_usable: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

type PendingEntries = HashMap<(usize, usize), Vec<(Option<String>, SortKey, RouteEntry)>>;

pub fn translate(resources: &[Resource], ctx: &Context) -> Snapshot {
    let ix = Index::new(resources);
    let mut report = StatusReport::default();

    let mut our_classes = Vec::new();
    for class in &ix.classes {
        if is_ours(class) {
            let status = gateway::class_status(class, ctx);
            if class.spec.parameters_ref.is_none() {
                our_classes.push(class.metadata.name());
            }
            report.resources.push(status_entry("GatewayClass", &class.metadata, status, false));
        }
    }

    let mut gateways: Vec<GatewayState<'_>> = ix
        .gateways
        .iter()
        .filter(|g| our_classes.contains(&g.spec.gateway_class_name.as_str()))
        .map(|g| gateway::translate_gateway(g, &ix, ctx))
        .collect();

    let traffic_policies = policy::Policies::new(&ix);
    let mut effective = policy::EffectiveCache::default();
    let mut pending: PendingEntries = HashMap::new();
    let mut policies: BTreeMap<ObjectKey, PolicyUse> = BTreeMap::new();
    for (order, route) in ix.routes.iter().enumerate() {
        let route_ns = route.metadata.namespace();
        let conds = Conditions::new(route.metadata.generation(), &ctx.now);
        let mut parents = Vec::new();
        let mut compiled: HashMap<usize, CompiledRoute> = HashMap::new();
        for parent in &route.spec.parent_refs {
            let gi = match route::find_parent(parent, route_ns, &gateways, &ix) {
                route::ParentLookup::Ours(gi) => gi,
                route::ParentLookup::NotOurs => continue,
                route::ParentLookup::Missing(msg) => {
                    parents.push(route::parent_status(
                        parent,
                        route_ns,
                        vec![conds.make("Accepted", false, "NoMatchingParent", msg)],
                    ));
                    continue;
                }
            };
            let c = compiled.entry(gi).or_insert_with(|| {
                let gw = &gateways[gi];
                let mut resolver = BackendResolver {
                    ix: &ix,
                    route_kind: "HTTPRoute",
                    route_ns,
                    gateway: &gw.key,
                    client_cert: gw.backend_client_cert.as_ref(),
                    policies: &mut policies,
                };
                rules::compile_route(route, &mut resolver)
            });
            let resolved = match &c.unresolved {
                None => conds.make("ResolvedRefs", true, "ResolvedRefs", "all references resolved"),
                Some((reason, msg)) => conds.make("ResolvedRefs", false, reason, msg.clone()),
            };
            let rref = route::RouteRef { kind: "HTTPRoute", namespace: route_ns, hostnames: &route.spec.hostnames };
            let accepted = match (route::attach(&rref, parent, &gateways[gi], &ix), &c.rules) {
                (Err((reason, msg)), _) => conds.make("Accepted", false, &reason, msg),
                (Ok(_), Err(e)) => conds.make("Accepted", false, "UnsupportedValue", e.clone()),
                (Ok(att), Ok(rules)) => {
                    for (li, hosts) in att.listeners {
                        let l = &mut gateways[gi].listeners[li];
                        l.attached_routes += 1;
                        if !l.ready() {
                            continue;
                        }
                        let gw_key = gateways[gi].key.clone();
                        let listener_name = gateways[gi].listeners[li].spec.name.clone();
                        let slot = pending.entry((gi, li)).or_default();
                        for host in hosts {
                            for cr in rules {
                                let policy =
                                    effective.get(&traffic_policies, &gw_key, (gi, li), &listener_name, &cr.rule);
                                for (mi, m) in cr.matches.iter().enumerate() {
                                    let key = route::sort_key(m, order, cr.index, mi);
                                    slot.push((
                                        host.clone(),
                                        key,
                                        RouteEntry {
                                            matcher: m.clone(),
                                            rule: cr.rule.clone(),
                                            policy: policy.clone(),
                                        },
                                    ));
                                }
                            }
                        }
                    }
                    conds.make("Accepted", true, "Accepted", "route accepted")
                }
            };
            parents.push(route::parent_status(parent, route_ns, vec![accepted, resolved]));
        }
        if !parents.is_empty() {
            report.resources.push(status_entry(
                "HTTPRoute",
                &route.metadata,
                serde_json::json!({"parents": parents}),
                true,
            ));
        }
    }

    let mut passthrough = tlsroute::translate_tls_routes(&ix, &mut gateways, &mut policies, ctx, &mut report);

    let mut ports: BTreeMap<BindKey, Arc<Port>> = BTreeMap::new();
    for (gi, gw) in gateways.iter().enumerate() {
        if gw.rejected.is_some() || gw.unusable_address.is_some() {
            continue;
        }
        let mut by_port: BTreeMap<u16, Vec<Arc<Listener>>> = BTreeMap::new();
        for (li, l) in gw.listeners.iter().enumerate() {
            let (true, Some(protocol)) = (l.ready(), l.protocol) else {
                continue;
            };
            let entries = pending.remove(&(gi, li)).unwrap_or_default();
            let listener = Listener {
                name: l.spec.name.clone(),
                gateway: Arc::from(gw.key.to_string()),
                metrics: Default::default(),
                hostname: l.spec.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                protocol,
                tls: l.tls.clone(),
                routes: build_table(entries),
                passthrough: passthrough.remove(&(gi, li)).unwrap_or_default(),
            };
            by_port.entry(l.spec.port).or_default().push(Arc::new(listener));
        }
        for (port, mut listeners) in by_port {
            listeners.sort_by(|a, b| crate::ir::hostname::specificity(a.hostname.as_deref(), b.hostname.as_deref()));
            let protocol = listeners[0].protocol;
            let key = BindKey { gateway: gw.key.clone(), port };
            let connections = traffic_policies.connections(&gw.key);
            ports.insert(key.clone(), Arc::new(Port { key, address: gw.address, protocol, listeners, connections }));
        }
    }

    for gw in &gateways {
        report.resources.push(status_entry("Gateway", &gw.gw.metadata, gateway_status(gw), true));
    }
    for p in &ix.policies {
        let key = ObjectKey::new(p.metadata.namespace(), p.metadata.name());
        let Some(usage) = policies.get(&key) else {
            continue;
        };
        let conds = Conditions::new(p.metadata.generation(), &ctx.now);
        let ancestors: Vec<_> = usage
            .ancestors
            .iter()
            .map(|(gw, result)| {
                let (accepted, resolved) = match result {
                    Ok(()) => (conds.make("Accepted", true, "Accepted", "policy applied"), conds.make("ResolvedRefs", true, "ResolvedRefs", "all references resolved")),
                    Err((reason, msg)) => (conds.make("Accepted", false, "NoValidCACertificate", msg.clone()), conds.make("ResolvedRefs", false, reason, msg.clone())),
                };
                serde_json::json!({
                    "ancestorRef": {"group": crate::api::GATEWAY_GROUP, "kind": "Gateway", "namespace": gw.namespace, "name": gw.name},
                    "controllerName": CONTROLLER_NAME,
                    "conditions": [accepted, resolved],
                })
            })
            .collect();
        report.resources.push(status_entry(
            "BackendTLSPolicy",
            &p.metadata,
            serde_json::json!({"ancestors": ancestors}),
            true,
        ));
    }

    traffic_policies.report(ctx, &mut report);
    Snapshot { version: ctx.version, ports, status: report }
}

fn build_table(entries: Vec<(Option<String>, SortKey, RouteEntry)>) -> RouteTable {
    let mut groups: BTreeMap<Option<String>, Vec<(SortKey, RouteEntry)>> = BTreeMap::new();
    for (host, key, entry) in entries {
        groups.entry(host).or_default().push((key, entry));
    }
    let groups = groups
        .into_iter()
        .map(|(hostname, mut v)| {
            v.sort_by_key(|a| a.0);
            HostGroup::new(hostname, v.into_iter().map(|(_, e)| e).collect())
        })
        .collect();
    RouteTable::new(groups)
}

fn gateway_status(gw: &GatewayState<'_>) -> serde_json::Value {
    let c = &gw.conds;
    let invalid = gw.listeners.iter().filter(|l| !l.attachable() || l.resolved.is_err()).count();
    let accepted = match &gw.rejected {
        Some((reason, msg)) => c.make("Accepted", false, reason, msg.clone()),
        None if !gw.listeners.is_empty() && invalid == gw.listeners.len() => {
            c.make("Accepted", false, "ListenersNotValid", "no listener is valid")
        }
        None if invalid > 0 => {
            c.make("Accepted", true, "ListenersNotValid", format!("{invalid} listener(s) are not valid"))
        }
        None => c.make("Accepted", true, "Accepted", "Gateway accepted"),
    };
    let programmed = if let Some((reason, _)) = &gw.rejected {
        c.make("Programmed", false, "Invalid", format!("the Gateway is not accepted ({reason})"))
    } else if let Some(msg) = &gw.unusable_address {
        c.make("Programmed", false, "AddressNotUsable", msg.clone())
    } else if gw.listeners.iter().any(|l| l.ready()) || gw.listeners.is_empty() {
        c.make("Programmed", true, "Programmed", "Gateway programmed")
    } else {
        c.make("Programmed", false, "Invalid", "no listener could be programmed")
    };
    let mut conditions = vec![accepted, programmed];
    conditions.extend(gw.extra_conditions.iter().cloned());
    let listeners: Vec<_> = gw
        .listeners
        .iter()
        .map(|l| {
            let accepted = match &l.accepted {
                Ok(()) => c.make("Accepted", true, "Accepted", "listener accepted"),
                Err((r, m)) => c.make("Accepted", false, r, m.clone()),
            };
            let resolved = match &l.resolved {
                Ok(()) => c.make("ResolvedRefs", true, "ResolvedRefs", "all references resolved"),
                Err((r, m)) => c.make("ResolvedRefs", false, r, m.clone()),
            };
            let conflicted = match &l.conflicted {
                None => c.make("Conflicted", false, "NoConflicts", "no conflict"),
                Some((r, m)) => c.make("Conflicted", true, r, m.clone()),
            };
            let programmed = if l.ready() {
                c.make("Programmed", true, "Programmed", "listener programmed")
            } else {
                let why = [l.conflicted.as_ref(), l.accepted.as_ref().err(), l.resolved.as_ref().err()]
                    .into_iter()
                    .flatten()
                    .next();
                let msg = why.map_or_else(
                    || "listener is not valid".to_string(),
                    |(r, _)| format!("listener is not valid ({r})"),
                );
                c.make("Programmed", false, "Invalid", msg)
            };
            let kinds: Vec<_> =
                l.supported_kinds.iter().map(|(g, k)| serde_json::json!({"group": g, "kind": k})).collect();
            serde_json::json!({
                "name": l.spec.name,
                "supportedKinds": kinds,
                "attachedRoutes": l.attached_routes,
                "conditions": [accepted, programmed, resolved, conflicted],
            })
        })
        .collect();
    serde_json::json!({"addresses": gw.addresses_status, "conditions": conditions, "listeners": listeners})
}

pub(crate) fn status_entry(
    kind: &str,
    meta: &crate::api::ObjectMeta,
    status: serde_json::Value,
    namespaced: bool,
) -> ResourceStatus {
    // The kind's current version (TLSRoute and TrafficPolicy were reported as `v1`).
    let api_version = crate::api::ResourceKind::from_kind(kind).map_or("v1", |k| k.api_versions()[0]);
    ResourceStatus {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        metadata: StatusMeta {
            name: meta.name().to_string(),
            namespace: namespaced.then(|| meta.namespace().to_string()),
            generation: meta.generation(),
        },
        status,
    }
}
