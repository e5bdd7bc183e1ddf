//! GatewayClass and Gateway: which Gateways are ours, their addresses and listeners, with the
//! status the Gateway API prescribes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::Context;
use super::index::Index;
use super::tls::{self, CertAndKey, ClientValidation};
use crate::api::{self, GATEWAY_GROUP, Gateway, GatewayClass};
use crate::ir::status::{CONTROLLER_NAME, Condition, Conditions};
use crate::ir::{ListenerTls, ObjectKey, PortProtocol};

/// Features this implementation supports, reported on the GatewayClass.
pub const SUPPORTED_FEATURES: &[&str] = &[
    "Gateway",
    "GatewayHTTPListenerIsolation",
    "GatewayPort8080",
    "GatewayAddressEmpty",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    "GatewayBackendClientCertificate",
    "BackendTLSPolicy",
    "HTTPRoute",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteBackendRequestHeaderModification",
    "HTTPRouteBackendTimeout",
    "HTTPRouteCORS",
    "HTTPRouteDestinationPortMatching",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteRetry",
    "HTTPRouteRetryBackendTimeout",
    "HTTPRouteRetryBackoff",
    "HTTPRouteRetryConnectionError",
    "HTTPRouteSchemeRedirect",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "ReferenceGrant",
    "TLSRoute",
];

pub fn is_ours(class: &GatewayClass) -> bool {
    class.spec.controller_name == CONTROLLER_NAME
}

/// GatewayClass status: Accepted, and the features we support.
pub fn class_status(class: &GatewayClass, ctx: &Context) -> serde_json::Value {
    let c = Conditions::new(class.metadata.generation(), &ctx.now);
    let accepted = match &class.spec.parameters_ref {
        None => c.make("Accepted", true, "Accepted", "Accepted by sluice"),
        Some(p) => c.make(
            "Accepted",
            false,
            "InvalidParameters",
            format!("parametersRef {}/{} {} is not supported", p.group, p.kind, p.name),
        ),
    };
    let features: Vec<_> = SUPPORTED_FEATURES.iter().map(|f| serde_json::json!({"name": f})).collect();
    serde_json::json!({"conditions": [accepted, c.make("SupportedVersion", true, "SupportedVersion", "Gateway API v1.6")], "supportedFeatures": features})
}

/// A Gateway being translated.
pub struct GatewayState<'a> {
    pub gw: &'a Gateway,
    pub key: ObjectKey,
    pub conds: Conditions,
    pub address: Option<IpAddr>,
    pub addresses_status: Vec<serde_json::Value>,
    /// Accepted=False reason, if any.
    pub rejected: Option<(String, String)>,
    pub unusable_address: Option<String>,
    pub listeners: Vec<ListenerState<'a>>,
    pub backend_client_cert: Option<Arc<CertAndKey>>,
    pub extra_conditions: Vec<Condition>,
}

pub struct ListenerState<'a> {
    pub spec: &'a api::Listener,
    pub protocol: Option<PortProtocol>,
    pub supported_kinds: Vec<(String, String)>,
    pub accepted: Result<(), (String, String)>,
    pub resolved: Result<(), (String, String)>,
    pub conflicted: Option<(String, String)>,
    pub cert: Option<CertAndKey>,
    pub client_validation: Option<ClientValidation>,
    pub tls: Option<Arc<ListenerTls>>,
    pub attached_routes: i32,
}

impl ListenerState<'_> {
    /// Routes may attach and traffic is served.
    pub fn ready(&self) -> bool {
        self.accepted.is_ok() && self.conflicted.is_none() && self.resolved.is_ok() && self.protocol.is_some()
    }

    /// Routes may attach (counted in attachedRoutes) even if refs are unresolved.
    pub fn attachable(&self) -> bool {
        self.accepted.is_ok() && self.conflicted.is_none() && self.protocol.is_some()
    }
}

fn bad(reason: &str, msg: impl Into<String>) -> (String, String) {
    (reason.to_string(), msg.into())
}

pub fn translate_gateway<'a>(gw: &'a Gateway, ix: &Index<'a>, ctx: &Context) -> GatewayState<'a> {
    let ns = gw.metadata.namespace();
    let mut st = GatewayState {
        gw,
        key: ObjectKey::new(ns, gw.metadata.name()),
        conds: Conditions::new(gw.metadata.generation(), &ctx.now),
        address: None,
        addresses_status: Vec::new(),
        rejected: None,
        unusable_address: None,
        listeners: Vec::new(),
        backend_client_cert: None,
        extra_conditions: Vec::new(),
    };
    if let Some(infra) = &gw.spec.infrastructure
        && let Some(p) = &infra.parameters_ref
    {
        st.rejected = Some(bad(
            "InvalidParameters",
            format!("infrastructure.parametersRef {}/{} {} is not supported", p.group, p.kind, p.name),
        ));
    }
    resolve_addresses(&mut st, ctx);
    resolve_backend_tls(&mut st, ix);
    let frontend = gw.spec.tls.as_ref().and_then(|t| t.frontend.as_ref());
    if let Some(f) = frontend {
        let insecure = std::iter::once(&f.default)
            .chain(f.per_port.iter().map(|p| &p.tls))
            .filter_map(|t| t.validation.as_ref())
            .any(|v| matches!(v.mode, Some(api::FrontendValidationMode::AllowInsecureFallback)));
        if insecure {
            st.extra_conditions.push(st.conds.make(
                "InsecureFrontendValidationMode",
                true,
                "ConfigurationChanged",
                "frontend client certificate validation allows insecure fallback",
            ));
        }
    }
    for l in &gw.spec.listeners {
        let ls = translate_listener(gw, l, ix);
        st.listeners.push(ls);
    }
    detect_conflicts(&mut st.listeners);
    apply_frontend_validation(&mut st, ix);
    for l in &mut st.listeners {
        finish_tls(l);
    }
    st
}

/// Builds the rustls server config of a valid HTTPS listener.
fn finish_tls(l: &mut ListenerState<'_>) {
    let Some(cert) = &l.cert else { return };
    if l.accepted.is_err() {
        return;
    }
    match tls::server_config(cert, l.client_validation.as_ref()) {
        Ok(config) => l.tls = Some(Arc::new(ListenerTls { server_config: Arc::new(config) })),
        Err(e) => l.resolved = Err(bad("InvalidCertificateRef", format!("TLS configuration failed: {e}"))),
    }
}

fn resolve_addresses(st: &mut GatewayState<'_>, ctx: &Context) {
    for a in &st.gw.spec.addresses {
        let ty = a.r#type.as_deref().unwrap_or("IPAddress");
        if ty != "IPAddress" {
            st.rejected.get_or_insert_with(|| {
                bad("UnsupportedAddress", format!("address type {ty:?} is not supported; use IPAddress"))
            });
            continue;
        }
        match a.value.as_deref() {
            None | Some("") => {}
            Some(v) => match v.parse::<IpAddr>() {
                Err(_) => {
                    st.rejected.get_or_insert_with(|| bad("UnsupportedAddress", format!("{v:?} is not an IP address")));
                }
                Ok(ip) if !(ctx.address_usable)(ip) => {
                    st.unusable_address.get_or_insert_with(|| format!("address {ip} cannot be bound on this host"));
                }
                Ok(ip) => {
                    st.address.get_or_insert(ip);
                }
            },
        }
    }
    let shown = st.address.unwrap_or(ctx.default_address);
    st.addresses_status.push(serde_json::json!({"type": "IPAddress", "value": shown.to_string()}));
}

fn resolve_backend_tls(st: &mut GatewayState<'_>, ix: &Index<'_>) {
    let Some(r) =
        st.gw.spec.tls.as_ref().and_then(|t| t.backend.as_ref()).and_then(|b| b.client_certificate_ref.as_ref())
    else {
        return;
    };
    let ns = st.gw.metadata.namespace();
    let target_ns = r.namespace.as_deref().unwrap_or(ns);
    let result = if r.group() != "" || r.kind() != "Secret" {
        Err(bad(
            "InvalidClientCertificateRef",
            format!("clientCertificateRef must be a core Secret, not {}/{}", r.group(), r.kind()),
        ))
    } else if !ix.grant_allows((GATEWAY_GROUP, "Gateway", ns), ("", "Secret", target_ns, &r.name)) {
        Err(bad(
            "RefNotPermitted",
            format!("no ReferenceGrant in {target_ns} allows this Gateway to use Secret {}", r.name),
        ))
    } else {
        match ix.secret(target_ns, &r.name) {
            None => Err(bad("InvalidClientCertificateRef", format!("Secret {target_ns}/{} not found", r.name))),
            Some(s) => tls::certificate_from_secret(s)
                .map_err(|e| bad("InvalidClientCertificateRef", format!("Secret {target_ns}/{}: {e}", r.name))),
        }
    };
    match result {
        Ok(cert) => {
            st.backend_client_cert = Some(Arc::new(cert));
            st.extra_conditions.push(st.conds.make(
                "ResolvedRefs",
                true,
                "ResolvedRefs",
                "backend client certificate resolved",
            ));
        }
        Err((reason, msg)) => st.extra_conditions.push(st.conds.make("ResolvedRefs", false, &reason, msg)),
    }
}

fn translate_listener<'a>(gw: &Gateway, l: &'a api::Listener, ix: &Index<'_>) -> ListenerState<'a> {
    let mut ls = ListenerState {
        spec: l,
        protocol: None,
        supported_kinds: Vec::new(),
        accepted: Ok(()),
        resolved: Ok(()),
        conflicted: None,
        cert: None,
        client_validation: None,
        tls: None,
        attached_routes: 0,
    };
    ls.protocol = match l.protocol.as_str() {
        "HTTP" => Some(PortProtocol::Http),
        "HTTPS" => Some(PortProtocol::Https),
        "TLS" => match l.tls.as_ref().and_then(|t| t.mode) {
            Some(api::TlsMode::Passthrough) => Some(PortProtocol::TlsPassthrough),
            Some(api::TlsMode::Terminate) | None => {
                ls.accepted = Err(bad(
                    "UnsupportedValue",
                    "TLS listeners support tls.mode Passthrough only; use HTTPS to terminate",
                ));
                return ls;
            }
        },
        other => {
            ls.accepted =
                Err(bad("UnsupportedProtocol", format!("protocol {other:?} is not supported; use HTTP, HTTPS or TLS")));
            return ls;
        }
    };
    let route_kind = route_kind(ls.protocol);
    let kinds = l.allowed_routes.as_ref().map(|a| a.kinds.as_slice()).unwrap_or_default();
    if kinds.is_empty() {
        ls.supported_kinds.push((GATEWAY_GROUP.to_string(), route_kind.to_string()));
    } else {
        for k in kinds {
            let group = k.group.as_deref().unwrap_or(GATEWAY_GROUP);
            if group == GATEWAY_GROUP && k.kind == route_kind {
                ls.supported_kinds.push((group.to_string(), k.kind.clone()));
            } else {
                ls.resolved = Err(bad(
                    "InvalidRouteKinds",
                    format!("route kind {group}/{} is not supported on this listener", k.kind),
                ));
            }
        }
    }
    if ls.protocol == Some(PortProtocol::Https) {
        match resolve_listener_cert(gw, l, ix) {
            Ok(cert) => ls.cert = Some(cert),
            Err(e) => ls.resolved = Err(e),
        }
    }
    ls
}

/// The route kind a listener of this protocol takes.
pub fn route_kind(protocol: Option<PortProtocol>) -> &'static str {
    match protocol {
        Some(PortProtocol::TlsPassthrough) => "TLSRoute",
        Some(PortProtocol::Http | PortProtocol::Https) | None => "HTTPRoute",
    }
}

fn resolve_listener_cert(gw: &Gateway, l: &api::Listener, ix: &Index<'_>) -> Result<CertAndKey, (String, String)> {
    let Some(tls_cfg) = &l.tls else {
        return Err(bad("InvalidCertificateRef", "an HTTPS listener needs tls.certificateRefs"));
    };
    if matches!(tls_cfg.mode, Some(api::TlsMode::Passthrough)) {
        return Err(bad("UnsupportedValue", "tls.mode Passthrough is not supported on HTTPS listeners"));
    }
    let ns = gw.metadata.namespace();
    let mut last_err = bad("InvalidCertificateRef", "no certificateRefs");
    for r in &tls_cfg.certificate_refs {
        let target_ns = r.namespace.as_deref().unwrap_or(ns);
        if r.group() != "" || r.kind() != "Secret" {
            last_err = bad(
                "InvalidCertificateRef",
                format!("certificateRef {}/{} {} is not a core Secret", r.group(), r.kind(), r.name),
            );
            continue;
        }
        if !ix.grant_allows((GATEWAY_GROUP, "Gateway", ns), ("", "Secret", target_ns, &r.name)) {
            last_err = bad(
                "RefNotPermitted",
                format!("no ReferenceGrant in {target_ns} allows this Gateway to use Secret {}", r.name),
            );
            continue;
        }
        match ix.secret(target_ns, &r.name) {
            None => last_err = bad("InvalidCertificateRef", format!("Secret {target_ns}/{} not found", r.name)),
            Some(s) => match tls::certificate_from_secret(s) {
                Ok(c) => return Ok(c),
                Err(e) => last_err = bad("InvalidCertificateRef", format!("Secret {target_ns}/{}: {e}", r.name)),
            },
        }
    }
    Err(last_err)
}

/// Listeners on one port must agree on the protocol, and hostnames on a port must be unique.
fn detect_conflicts(listeners: &mut [ListenerState<'_>]) {
    let mut by_port: HashMap<u16, Vec<usize>> = HashMap::new();
    for (i, l) in listeners.iter().enumerate() {
        if l.protocol.is_some() {
            by_port.entry(l.spec.port).or_default().push(i);
        }
    }
    let mut seen_names: HashMap<String, ()> = HashMap::new();
    for l in listeners.iter_mut() {
        let name = l.spec.name.clone();
        if seen_names.insert(name.clone(), ()).is_some() {
            l.conflicted = Some(bad("HostnameConflict", format!("listener name {name:?} is used more than once")));
        }
    }
    for idx in by_port.values() {
        let protocols: Vec<_> = idx.iter().map(|&i| listeners[i].protocol).collect();
        if protocols.windows(2).any(|w| w[0] != w[1]) {
            for &i in idx {
                listeners[i].conflicted = Some(bad(
                    "ProtocolConflict",
                    format!("port {} is used with different protocols", listeners[i].spec.port),
                ));
            }
            continue;
        }
        let mut hosts: HashMap<Option<String>, usize> = HashMap::new();
        for &i in idx {
            let h = listeners[i].spec.hostname.clone().map(|h| h.to_ascii_lowercase());
            if let Some(&first) = hosts.get(&h) {
                let msg = format!(
                    "listener {:?} uses the same port and hostname as {:?}",
                    listeners[i].spec.name, listeners[first].spec.name
                );
                listeners[i].conflicted.get_or_insert(bad("HostnameConflict", msg));
            } else {
                hosts.insert(h, i);
            }
        }
    }
}

/// Gateway `spec.tls.frontend`: client certificate validation on HTTPS listeners.
fn apply_frontend_validation(st: &mut GatewayState<'_>, ix: &Index<'_>) {
    let Some(frontend) = st.gw.spec.tls.as_ref().and_then(|t| t.frontend.as_ref()) else {
        return;
    };
    let ns = st.gw.metadata.namespace().to_string();
    for i in 0..st.listeners.len() {
        let l = &st.listeners[i];
        if l.protocol != Some(PortProtocol::Https) || l.cert.is_none() {
            continue;
        }
        let port = l.spec.port;
        let cfg = frontend.per_port.iter().find(|p| p.port == port).map_or(&frontend.default, |p| &p.tls);
        let Some(validation) = &cfg.validation else {
            continue;
        };
        let insecure = matches!(validation.mode, Some(api::FrontendValidationMode::AllowInsecureFallback));
        let mut maps = Vec::new();
        let mut failure = None;
        for r in &validation.ca_certificate_refs {
            let target_ns = r.namespace.as_deref().unwrap_or(&ns);
            if !r.group.is_empty() || r.kind != "ConfigMap" {
                failure.get_or_insert(bad(
                    "InvalidCACertificateKind",
                    format!("caCertificateRef {}/{} {} is not a ConfigMap", r.group, r.kind, r.name),
                ));
                continue;
            }
            if !ix.grant_allows((GATEWAY_GROUP, "Gateway", &ns), ("", "ConfigMap", target_ns, &r.name)) {
                failure.get_or_insert(bad(
                    "RefNotPermitted",
                    format!("no ReferenceGrant in {target_ns} allows this Gateway to use ConfigMap {}", r.name),
                ));
                continue;
            }
            match ix.config_map(target_ns, &r.name) {
                Some(cm) => maps.push(cm),
                None => {
                    failure.get_or_insert(bad(
                        "InvalidCACertificateRef",
                        format!("ConfigMap {target_ns}/{} not found", r.name),
                    ));
                }
            }
        }
        let roots = if maps.is_empty() {
            Err(failure.clone().unwrap_or_else(|| bad("InvalidCACertificateRef", "no CA certificate")))
        } else {
            tls::roots_from_config_maps(&maps).map_err(|e| bad("InvalidCACertificateRef", e))
        };
        let l = &mut st.listeners[i];
        match roots {
            Err(e) => {
                l.resolved = Err(e.clone());
                l.accepted =
                    Err(bad("NoValidCACertificate", format!("no valid CA certificate for client validation: {}", e.1)));
            }
            Ok(roots) => {
                if let Some(f) = failure {
                    l.resolved = Err(f);
                }
                l.client_validation = Some(ClientValidation { roots: Arc::new(roots), insecure_fallback: insecure });
            }
        }
    }
}
