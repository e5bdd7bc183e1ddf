//! Lookups over one set of resources, built once per translation.

use std::collections::{BTreeMap, HashMap};

use crate::api::{
    AiBackend, BackendTlsPolicy, ConfigMap, EndpointSlice, Gateway, GatewayClass, HttpRoute, LabelSelector, McpBackend,
    Namespace, ReferenceGrant, Resource, Secret, Service, TlsRoute, TrafficPolicy,
};

pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

type Key<'a> = (&'a str, &'a str);

#[derive(Default)]
pub struct Index<'a> {
    pub classes: Vec<&'a GatewayClass>,
    pub gateways: Vec<&'a Gateway>,
    pub routes: Vec<&'a HttpRoute>,
    pub tls_routes: Vec<&'a TlsRoute>,
    pub grants: Vec<&'a ReferenceGrant>,
    pub policies: Vec<&'a BackendTlsPolicy>,
    pub traffic_policies: Vec<&'a TrafficPolicy>,
    namespaces: HashMap<&'a str, &'a Namespace>,
    services: HashMap<Key<'a>, &'a Service>,
    slices: HashMap<(String, String), Vec<&'a EndpointSlice>>,
    secrets: HashMap<Key<'a>, &'a Secret>,
    config_maps: HashMap<Key<'a>, &'a ConfigMap>,
    ai_backends: HashMap<Key<'a>, &'a AiBackend>,
    mcp_backends: HashMap<Key<'a>, &'a McpBackend>,
}

impl<'a> Index<'a> {
    pub fn new(resources: &'a [Resource]) -> Self {
        let mut ix = Index::default();
        for r in resources {
            match r {
                Resource::TrafficPolicy(x) => ix.traffic_policies.push(&**x),
                Resource::GatewayClass(x) => ix.classes.push(x),
                Resource::Gateway(x) => ix.gateways.push(x),
                Resource::HttpRoute(x) => ix.routes.push(x),
                Resource::TlsRoute(x) => ix.tls_routes.push(x),
                Resource::ReferenceGrant(x) => ix.grants.push(x),
                Resource::BackendTlsPolicy(x) => ix.policies.push(x),
                Resource::Namespace(x) => {
                    ix.namespaces.insert(x.metadata.name(), x);
                }
                Resource::Service(x) => {
                    ix.services.insert((x.metadata.namespace(), x.metadata.name()), x);
                }
                Resource::Secret(x) => {
                    ix.secrets.insert((x.metadata.namespace(), x.metadata.name()), x);
                }
                Resource::ConfigMap(x) => {
                    ix.config_maps.insert((x.metadata.namespace(), x.metadata.name()), x);
                }
                Resource::AiBackend(x) => {
                    ix.ai_backends.insert((x.metadata.namespace(), x.metadata.name()), x);
                }
                Resource::McpBackend(x) => {
                    ix.mcp_backends.insert((x.metadata.namespace(), x.metadata.name()), x);
                }
                Resource::EndpointSlice(x) => {
                    if let Some(svc) = x.service_name() {
                        ix.slices.entry((x.metadata.namespace().to_string(), svc.to_string())).or_default().push(x);
                    }
                }
            }
        }
        // Deterministic order: creation time, then namespace/name, as the spec breaks ties.
        ix.gateways.sort_by_key(|a| order_key(&a.metadata));
        ix.routes.sort_by_key(|a| order_key(&a.metadata));
        ix.tls_routes.sort_by_key(|a| order_key(&a.metadata));
        ix
    }

    /// A namespace's labels, with the automatic `kubernetes.io/metadata.name` label. A
    /// namespace that no manifest declares still exists, with only that label.
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self.namespaces.get(ns).map(|n| n.metadata.labels.clone()).unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
        labels
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&'a Service> {
        self.services.get(&(ns, name)).copied()
    }

    pub fn slices(&self, ns: &str, service: &str) -> &[&'a EndpointSlice] {
        self.slices.get(&(ns.to_string(), service.to_string())).map_or(&[], Vec::as_slice)
    }

    pub fn ai_backend(&self, ns: &str, name: &str) -> Option<&'a AiBackend> {
        self.ai_backends.get(&(ns, name)).copied()
    }

    pub fn mcp_backend(&self, ns: &str, name: &str) -> Option<&'a McpBackend> {
        self.mcp_backends.get(&(ns, name)).copied()
    }

    pub fn secret(&self, ns: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.get(&(ns, name)).copied()
    }

    pub fn config_map(&self, ns: &str, name: &str) -> Option<&'a ConfigMap> {
        self.config_maps.get(&(ns, name)).copied()
    }

    /// Whether a ReferenceGrant in the target's namespace allows the reference.
    pub fn grant_allows(&self, from: (&str, &str, &str), to: (&str, &str, &str, &str)) -> bool {
        let (from_group, from_kind, from_ns) = from;
        let (to_group, to_kind, to_ns, to_name) = to;
        if from_ns == to_ns {
            return true;
        }
        self.grants.iter().filter(|g| g.metadata.namespace() == to_ns).any(|g| {
            g.spec.from.iter().any(|f| f.group == from_group && f.kind == from_kind && f.namespace == from_ns)
                && g.spec
                    .to
                    .iter()
                    .any(|t| t.group == to_group && t.kind == to_kind && t.name.as_deref().is_none_or(|n| n == to_name))
        })
    }
}

pub fn order_key(meta: &crate::api::ObjectMeta) -> (String, String, String) {
    (meta.creation_timestamp.clone().unwrap_or_default(), meta.namespace().to_string(), meta.name().to_string())
}

/// Label selector semantics: every matchLabels pair and every expression must hold.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|e| {
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| e.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}
