//! TLSRoute: SNI-routed TLS passthrough to Service backends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::backend::{BackendRefArgs, BackendResolver, PolicyUse};
use super::gateway::GatewayState;
use super::index::Index;
use super::route::{self, ParentLookup, RouteRef};
use super::{Context, status_entry};
use crate::api::TlsRoute;
use crate::ir::status::{Conditions, StatusReport};
use crate::ir::{ObjectKey, PassthroughRoute, hostname};

/// Passthrough routes per (Gateway, listener) index, in lookup order.
pub type PassthroughEntries = HashMap<(usize, usize), Vec<PassthroughRoute>>;

pub fn translate_tls_routes(
    ix: &Index<'_>,
    gateways: &mut [GatewayState<'_>],
    policies: &mut BTreeMap<ObjectKey, PolicyUse>,
    ctx: &Context,
    report: &mut StatusReport,
) -> PassthroughEntries {
    let mut pending: HashMap<(usize, usize), Vec<(usize, PassthroughRoute)>> = HashMap::new();
    for (order, r) in ix.tls_routes.iter().enumerate() {
        let ns = r.metadata.namespace();
        let conds = Conditions::new(r.metadata.generation(), &ctx.now);
        let mut parents = Vec::new();
        for parent in &r.spec.parent_refs {
            let gi = match route::find_parent(parent, ns, gateways, ix) {
                ParentLookup::Ours(gi) => gi,
                ParentLookup::NotOurs => continue,
                ParentLookup::Missing(msg) => {
                    parents.push(route::parent_status(
                        parent,
                        ns,
                        vec![conds.make("Accepted", false, "NoMatchingParent", msg)],
                    ));
                    continue;
                }
            };
            let (rules, unresolved) = compile(r, ix, &gateways[gi], policies);
            let resolved = match &unresolved {
                None => conds.make("ResolvedRefs", true, "ResolvedRefs", "all references resolved"),
                Some((reason, msg)) => conds.make("ResolvedRefs", false, reason, msg.clone()),
            };
            let rref = RouteRef { kind: "TLSRoute", namespace: ns, hostnames: &r.spec.hostnames };
            let accepted = match route::attach(&rref, parent, &gateways[gi], ix) {
                Err((reason, msg)) => conds.make("Accepted", false, &reason, msg),
                Ok(att) => {
                    for (li, hosts) in att.listeners {
                        let l = &mut gateways[gi].listeners[li];
                        l.attached_routes += 1;
                        if !l.ready() {
                            continue;
                        }
                        let slot = pending.entry((gi, li)).or_default();
                        for host in hosts {
                            for (label, backends) in &rules {
                                slot.push((
                                    order,
                                    PassthroughRoute {
                                        hostname: host.clone(),
                                        label: label.clone(),
                                        backends: backends.clone(),
                                    },
                                ));
                            }
                        }
                    }
                    conds.make("Accepted", true, "Accepted", "route accepted")
                }
            };
            parents.push(route::parent_status(parent, ns, vec![accepted, resolved]));
        }
        if !parents.is_empty() {
            report.resources.push(status_entry("TLSRoute", &r.metadata, serde_json::json!({"parents": parents}), true));
        }
    }
    pending
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| {
                hostname::specificity(a.1.hostname.as_deref(), b.1.hostname.as_deref()).then(a.0.cmp(&b.0))
            });
            (k, v.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

type CompiledRules = Vec<(Arc<str>, Vec<crate::ir::Backend>)>;

fn compile(
    r: &TlsRoute,
    ix: &Index<'_>,
    gw: &GatewayState<'_>,
    policies: &mut BTreeMap<ObjectKey, PolicyUse>,
) -> (CompiledRules, Option<(String, String)>) {
    let ns = r.metadata.namespace();
    let mut resolver =
        BackendResolver { ix, route_kind: "TLSRoute", route_ns: ns, gateway: &gw.key, client_cert: None, policies };
    let mut unresolved = None;
    let mut rules = Vec::new();
    for (i, rule) in r.spec.rules.iter().enumerate() {
        let mut backends = Vec::new();
        for b in &rule.backend_refs {
            let (backend, failure) = resolver.resolve(BackendRefArgs {
                group: b.group.as_deref().unwrap_or(""),
                kind: b.kind.as_deref().unwrap_or("Service"),
                name: &b.name,
                namespace: b.namespace.as_deref(),
                port: b.port,
                weight: u32::try_from(b.weight.unwrap_or(1)).unwrap_or(0),
                filters: vec![],
            });
            if let Some(f) = failure {
                unresolved.get_or_insert(f);
            }
            backends.push(backend);
        }
        let name = rule.name.clone().unwrap_or_else(|| i.to_string());
        rules.push((Arc::from(format!("{ns}/{}/{name}", r.metadata.name())), backends));
    }
    (rules, unresolved)
}
