//! The kinds Kubernetes mode watches: every kind standalone mode reads, at the version the
//! API server is asked for (the storage version of Gateway API v1.6.1 for its kinds, `v1` for
//! ReferenceGrant, which v1.6.1 serves at `v1` too).

use kube::api::{ApiResource, GroupVersionKind};

use crate::api::ResourceKind;

/// A watched kind: how the API server names it.
#[derive(Debug, Clone)]
pub struct Watched {
    pub kind: ResourceKind,
    pub resource: ApiResource,
}

/// The plural name of a kind's REST path.
pub fn plural(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::GatewayClass => "gatewayclasses",
        ResourceKind::Gateway => "gateways",
        ResourceKind::HttpRoute => "httproutes",
        ResourceKind::TlsRoute => "tlsroutes",
        ResourceKind::ReferenceGrant => "referencegrants",
        ResourceKind::BackendTlsPolicy => "backendtlspolicies",
        ResourceKind::Namespace => "namespaces",
        ResourceKind::Service => "services",
        ResourceKind::Secret => "secrets",
        ResourceKind::ConfigMap => "configmaps",
        ResourceKind::EndpointSlice => "endpointslices",
        ResourceKind::AiBackend => "aibackends",
        ResourceKind::McpBackend => "mcpbackends",
        ResourceKind::TrafficPolicy => "trafficpolicies",
    }
}

/// The version asked for: the first a kind accepts (each kind's list starts with its
/// current version).
fn version(kind: ResourceKind) -> &'static str {
    let api_version = kind.api_versions()[0];
    api_version.rsplit_once('/').map_or(api_version, |(_, v)| v)
}

/// Every watched kind.
pub fn all() -> Vec<Watched> {
    ResourceKind::ALL
        .into_iter()
        .map(|kind| {
            let gvk = GroupVersionKind::gvk(kind.group(), version(kind), kind.as_str());
            Watched { kind, resource: ApiResource::from_gvk_with_plural(&gvk, plural(kind)) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_the_api_server_names_them() {
        let all = all();
        assert_eq!(all.len(), ResourceKind::ALL.len());
        let route = all.iter().find(|w| w.kind == ResourceKind::HttpRoute).expect("httproutes");
        assert_eq!(route.resource.api_version, "gateway.networking.k8s.io/v1");
        assert_eq!(route.resource.plural, "httproutes");
        let service = all.iter().find(|w| w.kind == ResourceKind::Service).expect("services");
        assert_eq!((service.resource.group.as_str(), service.resource.api_version.as_str()), ("", "v1"));
        let slices = all.iter().find(|w| w.kind == ResourceKind::EndpointSlice).expect("endpointslices");
        assert_eq!(slices.resource.api_version, "discovery.k8s.io/v1");
        let policy = all.iter().find(|w| w.kind == ResourceKind::TrafficPolicy).expect("trafficpolicies");
        assert_eq!(policy.resource.api_version, "sluice.dev/v1alpha1");
    }
}
