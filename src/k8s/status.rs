//! Status written back to the cluster: what `/status` shows in standalone mode goes to each
//! object's `status` subresource, as a JSON merge patch that carries the object's
//! `resourceVersion` (a concurrent write makes it fail with 409; the newer object comes through
//! the watch, and the next snapshot writes again). Nothing is written when the object already
//! says it. Condition times move only when a condition's status does. The entries of other
//! controllers in a route's `parents` (or a policy's `ancestors`) are kept.

use std::sync::Arc;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::kinds::{self, Watched};
use super::objects::Objects;
use crate::api::ResourceKind;

/// The kinds whose status Sluice writes (the translation reports no other): the ClusterRole
/// in `deploy/` may patch exactly their `status` subresources (`tests/deploy.rs`).
pub const STATUS_KINDS: [ResourceKind; 6] = [
    ResourceKind::GatewayClass,
    ResourceKind::Gateway,
    ResourceKind::HttpRoute,
    ResourceKind::TlsRoute,
    ResourceKind::BackendTlsPolicy,
    ResourceKind::TrafficPolicy,
];

/// One object's status as the translation reports it.
#[derive(Debug, Clone)]
pub struct ObjectStatus {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub status: Value,
}

/// Writes statuses to the objects the watches see.
pub struct StatusWriter {
    client: kube::Client,
    objects: Arc<Objects>,
    kinds: Vec<Watched>,
    /// Our controller's name, whose entries in `parents` and `ancestors` are ours to replace.
    controller: String,
    /// The field manager named on every write: this replica's identity.
    manager: String,
    /// The Service in front of the replicas (`namespace/name`): its addresses are the Gateways'
    /// when a Gateway names none of its own.
    service: Option<String>,
}

/// A Service's addresses as Gateway status addresses: its load balancer's ingress (IP or
/// hostname), else its cluster IP.
pub fn service_addresses(service: &Value) -> Vec<Value> {
    let ingress: Vec<Value> = service["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| match (i["ip"].as_str(), i["hostname"].as_str()) {
            (Some(ip), _) => Some(json!({"type": "IPAddress", "value": ip})),
            (None, Some(host)) => Some(json!({"type": "Hostname", "value": host})),
            _ => None,
        })
        .collect();
    if !ingress.is_empty() {
        return ingress;
    }
    match service["spec"]["clusterIP"].as_str() {
        Some(ip) if !ip.is_empty() && ip != "None" => vec![json!({"type": "IPAddress", "value": ip})],
        _ => Vec::new(),
    }
}

/// What was done with a round of statuses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub patched: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// Copies `lastTransitionTime` from `current`'s condition of the same type when its status is
/// the same: a condition's time moves only when it changes.
fn keep_times(desired: &mut Value, current: &Value) {
    let Some(conds) = desired.get_mut("conditions").and_then(Value::as_array_mut) else { return };
    let Some(old) = current.get("conditions").and_then(Value::as_array) else { return };
    for c in conds {
        if let Some(o) = old.iter().find(|o| o["type"] == c["type"] && o["status"] == c["status"])
            && let Some(t) = o.get("lastTransitionTime")
        {
            c["lastTransitionTime"] = t.clone();
        }
    }
}

/// The entries of a list of per-parent statuses (`parents`, keyed by `parentRef`; `ancestors`,
/// by `ancestorRef`): the other controllers' from `current`, then ours, times kept.
fn merge_entries(desired: &mut Value, current: &Value, list: &str, reference: &str, controller: &str) {
    let Some(ours) = desired.get_mut(list).and_then(Value::as_array_mut) else { return };
    let theirs: Vec<Value> = current
        .get(list)
        .and_then(Value::as_array)
        .map(|l| l.iter().filter(|e| e["controllerName"] != controller).cloned().collect())
        .unwrap_or_default();
    for e in ours.iter_mut() {
        if let Some(old) = current
            .get(list)
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|o| o["controllerName"] == controller && o[reference] == e[reference]))
        {
            keep_times(e, old);
        }
    }
    let mut all = theirs;
    all.append(ours);
    desired[list] = Value::Array(all);
}

/// The status to write: ours, merged with what the object says now.
pub fn merged(ours: &Value, current: &Value, controller: &str) -> Value {
    let mut desired = ours.clone();
    keep_times(&mut desired, current);
    if let Some(listeners) = desired.get_mut("listeners").and_then(Value::as_array_mut) {
        for l in listeners {
            if let Some(old) = current
                .get("listeners")
                .and_then(Value::as_array)
                .and_then(|o| o.iter().find(|o| o["name"] == l["name"]))
            {
                keep_times(l, old);
            }
        }
    }
    merge_entries(&mut desired, current, "parents", "parentRef", controller);
    merge_entries(&mut desired, current, "ancestors", "ancestorRef", controller);
    desired
}

/// The status of objects that cannot be read, where Sluice would write one: Accepted (and, on a
/// Gateway, Programmed) False with reason `Invalid` and why, on GatewayClasses of our
/// controller, Gateways of such a class, routes per parent Gateway of such a class (parents
/// read from the raw `spec.parentRefs`), TrafficPolicies per target (the raw `spec.targetRefs`),
/// and BackendTLSPolicies per Gateway of ours whose routes send to a target Service. Other
/// kinds (Services, Secrets, our backends, which carry no status of ours) are only logged.
pub fn unreadable(errors: &[super::Unreadable], objects: &Objects, controller: &str) -> Vec<ObjectStatus> {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let ours_class =
        |class: &str| objects.get("GatewayClass", class).is_some_and(|c| c["spec"]["controllerName"] == controller);
    let ours_gateway = |ns: &str, name: &str| {
        objects
            .get("Gateway", &format!("{ns}/{name}"))
            .is_some_and(|g| g["spec"]["gatewayClassName"].as_str().is_some_and(ours_class))
    };
    let mut out = Vec::new();
    for e in errors {
        let o = &e.object;
        let meta = &o["metadata"];
        let (Some(kind), Some(name)) = (o["kind"].as_str(), meta["name"].as_str()) else { continue };
        let ns = meta["namespace"].as_str().unwrap_or("default");
        let generation = meta["generation"].as_i64().unwrap_or(0);
        let message = format!("the object cannot be read: {}", e.message);
        let cond = |t: &str| {
            json!({"type": t, "status": "False", "reason": "Invalid", "message": message,
                "observedGeneration": generation, "lastTransitionTime": now})
        };
        // A parent's or ancestor's entry of ours, refused.
        let entry =
            |field: &str, r: Value| json!({field: r, "controllerName": controller, "conditions": [cond("Accepted")]});
        // Routes and policies report per parent or ancestor: none of ours, nothing to write.
        let per = |list: &str, entries: Vec<Value>| (!entries.is_empty()).then(|| json!({list: entries}));
        let status = match kind {
            "GatewayClass" if o["spec"]["controllerName"] == controller => {
                Some(json!({"conditions": [cond("Accepted")]}))
            }
            "Gateway" if o["spec"]["gatewayClassName"].as_str().is_some_and(ours_class) => {
                Some(json!({"conditions": [cond("Accepted"), cond("Programmed")]}))
            }
            "HTTPRoute" | "TLSRoute" => {
                let parents = o["spec"]["parentRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p.get("kind").is_none_or(|k| k == "Gateway"))
                    .filter(|p| {
                        ours_gateway(p["namespace"].as_str().unwrap_or(ns), p["name"].as_str().unwrap_or_default())
                    })
                    .map(|p| entry("parentRef", p.clone()));
                per("parents", parents.collect())
            }
            "TrafficPolicy" => {
                let ancestors = raw_targets(o).map(|t| {
                    let mut r = json!({"group": t["group"].as_str().unwrap_or_default(), "kind": t["kind"],
                        "namespace": ns, "name": t["name"]});
                    if let Some(s) = t["sectionName"].as_str() {
                        r["sectionName"] = json!(s);
                    }
                    entry("ancestorRef", r)
                });
                per("ancestors", ancestors.collect())
            }
            "BackendTLSPolicy" => {
                let services: Vec<&str> = raw_targets(o)
                    .filter(|t| t["kind"] == "Service" && t["group"].as_str().is_none_or(str::is_empty))
                    .filter_map(|t| t["name"].as_str())
                    .collect();
                let ancestors = gateways_sending_to(objects, ns, &services, &ours_gateway).into_iter().map(|(gns, name)| {
                    entry(
                        "ancestorRef",
                        json!({"group": crate::api::GATEWAY_GROUP, "kind": "Gateway", "namespace": gns, "name": name}),
                    )
                });
                per("ancestors", ancestors.collect())
            }
            _ => None,
        };
        let Some(status) = status else { continue };
        let namespace = (kind != "GatewayClass").then(|| ns.to_string());
        out.push(ObjectStatus { kind: kind.to_string(), namespace, name: name.to_string(), status });
    }
    out
}

/// The entries of a raw `spec.targetRefs` that name a kind and an object.
fn raw_targets(o: &Value) -> impl Iterator<Item = &Value> {
    o["spec"]["targetRefs"].as_array().into_iter().flatten().filter(|t| t["kind"].is_string() && t["name"].is_string())
}

/// The Gateways (`namespace`, `name`) of ours that HTTPRoutes attach to whose rules send to one
/// of `services` in namespace `ns`.
fn gateways_sending_to(
    objects: &Objects,
    ns: &str,
    services: &[&str],
    ours: &dyn Fn(&str, &str) -> bool,
) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for r in objects.of_kind("HTTPRoute") {
        let rns = r["metadata"]["namespace"].as_str().unwrap_or("default");
        let sends = r["spec"]["rules"].as_array().into_iter().flatten().any(|rule| {
            rule["backendRefs"].as_array().into_iter().flatten().any(|b| {
                b.get("kind").is_none_or(|k| k == "Service")
                    && b["group"].as_str().is_none_or(str::is_empty)
                    && b["namespace"].as_str().unwrap_or(rns) == ns
                    && b["name"].as_str().is_some_and(|n| services.contains(&n))
            })
        });
        if !sends {
            continue;
        }
        for p in r["spec"]["parentRefs"].as_array().into_iter().flatten() {
            let (pns, name) = (p["namespace"].as_str().unwrap_or(rns), p["name"].as_str().unwrap_or_default());
            if p.get("kind").is_none_or(|k| k == "Gateway") && ours(pns, name) {
                out.insert((pns.to_string(), name.to_string()));
            }
        }
    }
    out
}

impl StatusWriter {
    /// The objects the watches see.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// Our controller's name.
    pub fn controller(&self) -> &str {
        &self.controller
    }

    pub fn new(client: kube::Client, objects: Arc<Objects>, controller: &str, manager: &str) -> StatusWriter {
        StatusWriter {
            client,
            objects,
            kinds: kinds::all(),
            controller: controller.to_string(),
            manager: manager.chars().take(128).collect(),
            service: None,
        }
    }

    /// The Gateways' addresses come from this Service (`namespace/name`) when they name none.
    pub fn with_service(mut self, service: Option<String>) -> StatusWriter {
        self.service = service;
        self
    }

    /// Our status of `s`, with the Service's addresses on a Gateway that names none.
    fn ours(&self, s: &ObjectStatus, current: &Value) -> Value {
        let mut status = s.status.clone();
        let names_none = current["spec"]["addresses"].as_array().is_none_or(Vec::is_empty);
        if s.kind == "Gateway"
            && names_none
            && let Some(svc) = self.service.as_deref().and_then(|key| self.objects.get("Service", key))
        {
            let addresses = service_addresses(&svc);
            if !addresses.is_empty() {
                status["addresses"] = Value::Array(addresses);
            }
        }
        status
    }

    /// Writes every status the cluster does not say yet.
    pub async fn write(&self, statuses: &[ObjectStatus]) -> Written {
        let mut out = Written::default();
        for s in statuses {
            let Some(w) = self.kinds.iter().find(|w| w.kind.as_str() == s.kind && STATUS_KINDS.contains(&w.kind))
            else {
                continue;
            };
            let key = match (&s.namespace, w.kind.is_namespaced()) {
                (Some(ns), true) => format!("{ns}/{}", s.name),
                _ => s.name.clone(),
            };
            // Only objects the cluster has (and the watches have seen).
            let Some(current) = self.objects.get(&s.kind, &key) else { continue };
            let now = current.get("status").cloned().unwrap_or(Value::Null);
            let desired = merged(&self.ours(s, &current), &now, &self.controller);
            if desired == now {
                out.unchanged += 1;
                continue;
            }
            let api: Api<DynamicObject> = match (&s.namespace, w.kind.is_namespaced()) {
                (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &w.resource),
                _ => Api::all_with(self.client.clone(), &w.resource),
            };
            let patch = json!({
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": desired,
            });
            let params = PatchParams { field_manager: Some(self.manager.clone()), ..PatchParams::default() };
            match api.patch_status(&s.name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => out.patched += 1,
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    tracing::debug!(kind = %s.kind, object = %key, "status changed meanwhile; written again with the next snapshot");
                    out.failed += 1;
                }
                Err(e) => {
                    tracing::warn!(kind = %s.kind, object = %key, error = %e, "cannot write status");
                    out.failed += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "sluice.dev/gateway-controller";

    fn cond(t: &str, s: &str, time: &str) -> Value {
        json!({"type": t, "status": s, "reason": t, "message": "", "observedGeneration": 1, "lastTransitionTime": time})
    }

    #[test]
    fn times_move_only_with_a_condition_and_other_controllers_entries_stay() {
        let current = json!({"parents": [
            {"parentRef": {"name": "gw"}, "controllerName": "other.io/x", "conditions": [cond("Accepted", "True", "t0")]},
            {"parentRef": {"name": "gw"}, "controllerName": US,
             "conditions": [cond("Accepted", "True", "t1"), cond("ResolvedRefs", "True", "t1")]},
        ]});
        let ours = json!({"parents": [{"parentRef": {"name": "gw"}, "controllerName": US,
            "conditions": [cond("Accepted", "True", "t2"), cond("ResolvedRefs", "False", "t2")]}]});
        let m = merged(&ours, &current, US);
        let parents = m["parents"].as_array().expect("parents");
        assert_eq!(parents.len(), 2);
        assert_eq!(parents[0]["controllerName"], "other.io/x", "kept");
        assert_eq!(parents[1]["conditions"][0]["lastTransitionTime"], "t1", "Accepted did not change");
        assert_eq!(parents[1]["conditions"][1]["lastTransitionTime"], "t2", "ResolvedRefs changed");
        // Written once, the same status again is no change.
        assert_eq!(merged(&ours, &m, US), m);
    }

    #[test]
    fn a_services_addresses() {
        let lb = json!({"spec": {"clusterIP": "10.0.0.9"},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}});
        assert_eq!(
            service_addresses(&lb),
            [
                json!({"type": "IPAddress", "value": "203.0.113.7"}),
                json!({"type": "Hostname", "value": "lb.example.com"})
            ]
        );
        let internal = json!({"spec": {"clusterIP": "10.0.0.9"}, "status": {"loadBalancer": {}}});
        assert_eq!(service_addresses(&internal), [json!({"type": "IPAddress", "value": "10.0.0.9"})]);
        assert!(service_addresses(&json!({"spec": {"clusterIP": "None"}})).is_empty());
    }

    #[test]
    fn listener_and_top_level_times_are_kept() {
        let current = json!({"conditions": [cond("Programmed", "True", "t0")],
            "listeners": [{"name": "http", "attachedRoutes": 1, "conditions": [cond("Accepted", "True", "t0")]}]});
        let ours = json!({"conditions": [cond("Programmed", "True", "t9")],
            "listeners": [{"name": "http", "attachedRoutes": 2, "conditions": [cond("Accepted", "True", "t9")]}]});
        let m = merged(&ours, &current, US);
        assert_eq!(m["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(m["listeners"][0]["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(m["listeners"][0]["attachedRoutes"], 2);
    }
}
