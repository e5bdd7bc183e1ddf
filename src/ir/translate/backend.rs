//! backendRefs to Services (and ExternalName Services), resolved to endpoints through
//! EndpointSlices, with TLS from a BackendTLSPolicy.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::index::Index;
use super::tls::{self, CertAndKey};
use crate::api::{BackendTlsPolicy, GATEWAY_GROUP, IntOrString, Service, ServicePort};
use crate::ir::backend::Upstream;
use crate::ir::{Backend, BackendTarget, Endpoint, Filter, ObjectKey, UpstreamProtocol, UpstreamTls};

/// A backend reference, whatever field it came from.
pub struct BackendRefArgs<'r> {
    pub group: &'r str,
    pub kind: &'r str,
    pub name: &'r str,
    pub namespace: Option<&'r str>,
    pub port: Option<u16>,
    pub weight: u32,
    pub filters: Vec<Filter>,
}

use super::refs::RefFailure;

impl<'r> BackendRefArgs<'r> {
    /// A reference that is not a route's weighted backend (a mirror, a policy's service).
    pub fn of(b: &'r crate::api::BackendObjectReference) -> BackendRefArgs<'r> {
        BackendRefArgs {
            group: b.group(),
            kind: b.kind(),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
            weight: 1,
            filters: vec![],
        }
    }
}

/// How a BackendTLSPolicy fared for one Gateway: recorded for its status.
#[derive(Default)]
pub struct PolicyUse {
    pub ancestors: BTreeMap<ObjectKey, Result<(), RefFailure>>,
}

pub struct BackendResolver<'i, 'a> {
    pub ix: &'i Index<'a>,
    /// The kind of the referring route, for ReferenceGrant checks.
    pub route_kind: &'static str,
    pub route_ns: &'i str,
    pub gateway: &'i ObjectKey,
    pub client_cert: Option<&'i Arc<CertAndKey>>,
    pub policies: &'i mut BTreeMap<ObjectKey, PolicyUse>,
}

impl BackendResolver<'_, '_> {
    pub fn resolve(&mut self, r: BackendRefArgs<'_>) -> (Backend, Option<RefFailure>) {
        let ns = r.namespace.unwrap_or(self.route_ns);
        let label: Arc<str> =
            Arc::from(format!("{ns}/{}:{}", r.name, r.port.map_or_else(|| "-".to_string(), |p| p.to_string())));
        let result = if r.group == crate::api::SLUICE_GROUP && r.kind == "AIBackend" {
            self.resolve_ai(&r, ns).map(BackendTarget::Ai)
        } else if r.group == crate::api::SLUICE_GROUP && r.kind == "MCPBackend" {
            self.resolve_mcp(&r, ns).map(BackendTarget::Mcp)
        } else {
            self.resolve_target(&r, ns).map(|up| BackendTarget::Upstream(Arc::new(up)))
        };
        let (target, failure) = match result {
            Ok(t) => (t, None),
            Err(f) => (BackendTarget::Invalid { reason: f.1.clone() }, Some(f)),
        };
        (Backend { name: label, weight: r.weight, target, filters: r.filters, metrics: Default::default() }, failure)
    }

    fn resolve_ai(&self, r: &BackendRefArgs<'_>, ns: &str) -> Result<Arc<crate::ir::ai::AiBackendIr>, RefFailure> {
        if !self.ix.grant_allows((GATEWAY_GROUP, self.route_kind, self.route_ns), (r.group, r.kind, ns, r.name)) {
            return Err((
                "RefNotPermitted".into(),
                format!(
                    "no ReferenceGrant in {ns} allows {}s from {} to use AIBackend {}",
                    self.route_kind, self.route_ns, r.name
                ),
            ));
        }
        super::ai::resolve(self.ix, ns, r.name)
    }

    fn resolve_mcp(&self, r: &BackendRefArgs<'_>, ns: &str) -> Result<Arc<crate::ir::mcp::McpBackendIr>, RefFailure> {
        if !self.ix.grant_allows((GATEWAY_GROUP, self.route_kind, self.route_ns), (r.group, r.kind, ns, r.name)) {
            return Err((
                "RefNotPermitted".into(),
                format!(
                    "no ReferenceGrant in {ns} allows {}s from {} to use MCPBackend {}",
                    self.route_kind, self.route_ns, r.name
                ),
            ));
        }
        super::mcp::resolve(self.ix, ns, r.name)
    }

    pub(super) fn resolve_target(&mut self, r: &BackendRefArgs<'_>, ns: &str) -> Result<Upstream, RefFailure> {
        if !r.group.is_empty() || r.kind != "Service" {
            return Err((
                "InvalidKind".into(),
                format!("backendRef kind {}/{} is not supported; use a core Service", r.group, r.kind),
            ));
        }
        if !self.ix.grant_allows((GATEWAY_GROUP, self.route_kind, self.route_ns), ("", "Service", ns, r.name)) {
            return Err((
                "RefNotPermitted".into(),
                format!(
                    "no ReferenceGrant in {ns} allows {}s from {} to use Service {}",
                    self.route_kind, self.route_ns, r.name
                ),
            ));
        }
        let svc = self
            .ix
            .service(ns, r.name)
            .ok_or_else(|| ("BackendNotFound".to_string(), format!("Service {ns}/{} not found", r.name)))?;
        let port = r.port.ok_or_else(|| {
            ("UnsupportedValue".to_string(), format!("backendRef to Service {ns}/{} needs a port", r.name))
        })?;
        if let Some(ext) =
            svc.spec.external_name.as_deref().filter(|_| svc.spec.r#type.as_deref() == Some("ExternalName"))
        {
            let tls = self.upstream_tls(svc, None)?;
            let key = pool_key(ns, r.name, port, UpstreamProtocol::Http1, tls.as_deref());
            return Ok(Upstream::new(
                key,
                vec![Endpoint::Dns { host: ext.to_string(), port }],
                UpstreamProtocol::Http1,
                tls,
            ));
        }
        let sp =
            svc.spec.ports.iter().find(|p| p.port == i32::from(port)).ok_or_else(|| {
                ("BackendNotFound".to_string(), format!("Service {ns}/{} has no port {port}", r.name))
            })?;
        let protocol = match sp.app_protocol.as_deref() {
            Some("kubernetes.io/h2c") => UpstreamProtocol::H2c,
            Some("kubernetes.io/ws" | "kubernetes.io/wss") => UpstreamProtocol::WebSocket,
            None | Some("http" | "https" | "HTTP" | "HTTPS") => UpstreamProtocol::Http1,
            Some(other) => {
                return Err((
                    "UnsupportedProtocol".into(),
                    format!("appProtocol {other:?} of Service {ns}/{} is not supported", r.name),
                ));
            }
        };
        let tls = self.upstream_tls(svc, Some(sp))?;
        let endpoints = service_endpoints(self.ix, svc, sp);
        let key = pool_key(ns, r.name, port, protocol, tls.as_deref());
        Ok(Upstream::new(key, endpoints, protocol, tls))
    }

    /// TLS towards the Service when a BackendTLSPolicy targets it (or the port's section).
    fn upstream_tls(
        &mut self,
        svc: &Service,
        port: Option<&ServicePort>,
    ) -> Result<Option<Arc<UpstreamTls>>, RefFailure> {
        let ns = svc.metadata.namespace();
        let policy = self.ix.policies.iter().find(|p| {
            p.metadata.namespace() == ns
                && p.spec.target_refs.iter().any(|t| {
                    t.group.is_empty()
                        && t.kind == "Service"
                        && t.name == svc.metadata.name()
                        && t.section_name.as_deref().is_none_or(|s| port.and_then(|p| p.name.as_deref()) == Some(s))
                })
        });
        let Some(policy) = policy else {
            return Ok(None);
        };
        let built = self.build_tls(policy);
        let key = ObjectKey::new(ns, policy.metadata.name());
        let entry = self.policies.entry(key).or_default();
        entry.ancestors.insert(self.gateway.clone(), built.as_ref().map(|_| ()).map_err(Clone::clone));
        built.map(Some)
    }

    fn build_tls(&self, policy: &BackendTlsPolicy) -> Result<Arc<UpstreamTls>, RefFailure> {
        let ns = policy.metadata.namespace();
        let v = &policy.spec.validation;
        let roots = if v.well_known_ca_certificates.as_deref() == Some("System") {
            tls::system_roots()
        } else {
            let mut maps = Vec::new();
            for r in &v.ca_certificate_refs {
                if !r.group.is_empty() || r.kind != "ConfigMap" {
                    return Err((
                        "InvalidKind".into(),
                        format!("caCertificateRef {}/{} is not a ConfigMap", r.group, r.kind),
                    ));
                }
                maps.push(self.ix.config_map(ns, &r.name).ok_or_else(|| {
                    ("InvalidCACertificateRef".to_string(), format!("ConfigMap {ns}/{} not found", r.name))
                })?);
            }
            tls::roots_from_config_maps(&maps).map_err(|e| ("InvalidCACertificateRef".to_string(), e))?
        };
        let config = tls::client_config(roots, self.client_cert.map(AsRef::as_ref))
            .map_err(|e| ("InvalidCACertificateRef".to_string(), e))?;
        let server_name = rustls_pki_types::ServerName::try_from(v.hostname.clone())
            .map_err(|e| ("UnsupportedValue".to_string(), format!("hostname {:?}: {e}", v.hostname)))?;
        let fingerprint = format!(
            "{ns}/{}@{}|client={}",
            policy.metadata.name(),
            policy.metadata.generation(),
            self.client_cert.map_or("none", |_| self.gateway_key_str())
        );
        Ok(Arc::new(UpstreamTls { server_name, config: Arc::new(config), fingerprint }))
    }

    fn gateway_key_str(&self) -> &str {
        &self.gateway.name
    }
}

fn pool_key(ns: &str, name: &str, port: u16, protocol: UpstreamProtocol, tls: Option<&UpstreamTls>) -> String {
    format!("{ns}/{name}:{port}/{protocol:?}/{}", tls.map_or("plain", |t| t.fingerprint.as_str()))
}

/// The ready endpoint addresses of a Service port, from its EndpointSlices.
pub fn service_endpoints(ix: &Index<'_>, svc: &Service, sp: &ServicePort) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for slice in ix.slices(svc.metadata.namespace(), svc.metadata.name()) {
        let port = slice
            .ports
            .iter()
            .find(|p| p.name.as_deref().unwrap_or("") == sp.name.as_deref().unwrap_or(""))
            .and_then(|p| p.port)
            .or({
                // A slice without named ports: a numeric targetPort still maps.
                match &sp.target_port {
                    Some(IntOrString::Int(n)) if slice.ports.is_empty() => Some(*n),
                    _ => None,
                }
            });
        let Some(port) = port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for ep in &slice.endpoints {
            if !ep.is_ready() {
                continue;
            }
            for a in &ep.addresses {
                if let Ok(ip) = a.parse::<IpAddr>() {
                    out.push(Endpoint::Addr(SocketAddr::new(ip, port)));
                }
            }
        }
    }
    out
}
