//! MCPBackend resources resolved into [`McpBackendIr`]: targets checked and named, filters
//! and naming settled.

use std::collections::HashSet;
use std::sync::Arc;

use super::index::Index;
use super::refs::{RefFailure, invalid, secret_value};
use crate::api::{McpBackend, McpFailureMode, McpPrefixMode, McpTarget, McpUrl, SLUICE_GROUP};
use crate::ir::creds::SessionKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, McpTls, McpTransport, PrefixMode, ToolRules};
use crate::ir::{Endpoint, ObjectKey};

pub fn resolve(ix: &Index<'_>, ns: &str, name: &str) -> Result<Arc<McpBackendIr>, RefFailure> {
    let b = ix
        .mcp_backend(ns, name)
        .ok_or_else(|| ("BackendNotFound".to_string(), format!("MCPBackend {ns}/{name} not found")))?;
    let mut ir = build(ix, b).map_err(|(r, m)| (r, format!("MCPBackend {ns}/{name}: {m}")))?;
    ir.session_key = session_key(ix, b).map_err(|(r, m)| (r, format!("MCPBackend {ns}/{name}: {m}")))?;
    Ok(Arc::new(ir))
}

/// The session key from `spec.sessions.keySecretRef`, if set.
fn session_key(ix: &Index<'_>, b: &McpBackend) -> Result<Option<Arc<SessionKey>>, RefFailure> {
    let Some(r) = b.spec.sessions.as_ref().and_then(|s| s.key_secret_ref.as_ref()) else { return Ok(None) };
    let ns = b.metadata.namespace();
    let key_name = r.key.as_deref().unwrap_or("sessionKey");
    let bytes = secret_value(ix, ns, &r.name, key_name)?
        .ok_or_else(|| invalid(format!("Secret {ns}/{} has no key {key_name:?}", r.name)))?;
    SessionKey::new(&bytes).map(|k| Some(Arc::new(k))).map_err(|e| invalid(format!("spec.sessions.keySecretRef: {e}")))
}

pub fn build(ix: &Index<'_>, b: &McpBackend) -> Result<McpBackendIr, RefFailure> {
    let ns = b.metadata.namespace();
    let name = b.metadata.name();
    if b.spec.targets.is_empty() {
        return Err(invalid("spec.targets needs at least one target"));
    }
    let naming = b.spec.naming.clone().unwrap_or_default();
    let separator = naming.separator.unwrap_or_else(|| "_".to_string());
    if separator.is_empty() {
        return Err(invalid("spec.naming.separator must not be empty"));
    }
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    for (i, t) in b.spec.targets.iter().enumerate() {
        let target = target(ix, ns, name, t).map_err(|(r, m)| (r, format!("spec.targets[{i}]: {m}")))?;
        if !seen.insert(target.name.clone()) {
            return Err(invalid(format!("spec.targets[{i}]: target name {:?} is used twice", target.name)));
        }
        targets.push(Arc::new(target));
    }
    Ok(McpBackendIr {
        key: ObjectKey::new(ns, name),
        targets,
        prefix: match naming.prefix.unwrap_or_default() {
            McpPrefixMode::Always => PrefixMode::Always,
            McpPrefixMode::OnConflict => PrefixMode::OnConflict,
            McpPrefixMode::Never => PrefixMode::Never,
        },
        separator,
        failure_mode: match b.spec.failure_mode.unwrap_or_default() {
            McpFailureMode::FailClosed => FailureMode::FailClosed,
            McpFailureMode::FailOpen => FailureMode::FailOpen,
        },
        session_key: None,
    })
}

fn target(ix: &Index<'_>, ns: &str, backend: &str, t: &McpTarget) -> Result<McpTargetIr, RefFailure> {
    let name_ok = !t.name.is_empty() && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(format!("target name {:?} must be letters, digits, '-' or '_'", t.name)));
    }
    let transport = match (&t.stdio, &t.sse, &t.streamable_http) {
        (Some(s), None, None) => {
            if s.command.trim().is_empty() {
                return Err(invalid(format!("target {:?}: stdio.command is empty", t.name)));
            }
            let mut env: Vec<(String, String)> = s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, r) in &s.env_from_secrets {
                let value = secret_value(ix, ns, &r.name, &r.key)?
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|v| !k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'))
                    .ok_or_else(|| {
                        invalid(format!(
                            "target {:?}: stdio.envFromSecrets.{k}: Secret {ns}/{} has no text key {:?}",
                            t.name, r.name, r.key
                        ))
                    })?;
                env.retain(|(name, _)| name != k);
                env.push((k.clone(), value));
            }
            McpTransport::Stdio { command: s.command.clone(), args: s.args.clone(), env }
        }
        (None, Some(u), None) => match where_to(ix, ns, &t.name, u, "/sse")? {
            Ok(url) => McpTransport::Sse { url },
            Err(reason) => McpTransport::Unresolved { reason },
        },
        (None, None, Some(u)) => match where_to(ix, ns, &t.name, u, "/mcp")? {
            Ok(url) => McpTransport::StreamableHttp { url },
            Err(reason) => McpTransport::Unresolved { reason },
        },
        _ => {
            return Err(invalid(format!("target {:?} needs exactly one of stdio, sse and streamableHttp", t.name)));
        }
    };
    for (k, v) in &t.headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() || http::HeaderValue::from_str(v).is_err() {
            return Err(invalid(format!("target {:?}: header {k:?} is not a valid HTTP header", t.name)));
        }
    }
    let mut headers: Vec<(String, String)> = t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, r) in &t.headers_from_secrets {
        let bytes = secret_value(ix, ns, &r.name, &r.key)?
            .ok_or_else(|| invalid(format!("target {:?}: Secret {ns}/{} has no key {:?}", t.name, r.name, r.key)))?;
        let value = String::from_utf8(bytes)
            .ok()
            .filter(|v| http::HeaderName::from_bytes(k.as_bytes()).is_ok() && http::HeaderValue::from_str(v).is_ok())
            .ok_or_else(|| {
                invalid(format!(
                    "target {:?}: header {k:?} from Secret {ns}/{} is not a valid HTTP header",
                    t.name, r.name
                ))
            })?;
        headers.push((k.clone(), value));
    }
    let tls = target_tls(ix, ns, t, &transport)?;
    let filter = t.tools.clone().unwrap_or_default();
    Ok(McpTargetIr {
        name: t.name.clone(),
        id: Arc::from(format!("{ns}/{backend}/{}", t.name)),
        transport,
        headers,
        tools: ToolRules { include: filter.include, exclude: filter.exclude },
        tls,
    })
}

/// TLS for an `https://` target: the CA ConfigMaps of `tls`, or the well-known roots.
fn target_tls(ix: &Index<'_>, ns: &str, t: &McpTarget, transport: &McpTransport) -> Result<Option<McpTls>, RefFailure> {
    let https = match transport {
        McpTransport::Sse { url } | McpTransport::StreamableHttp { url } => url.starts_with("https://"),
        McpTransport::Stdio { .. } | McpTransport::Unresolved { .. } => false,
    };
    let refs = t.tls.as_ref().map(|x| x.ca_certificate_refs.as_slice()).unwrap_or_default();
    if !https {
        if t.tls.is_some() {
            return Err(invalid(format!("target {:?}: tls needs an https:// url", t.name)));
        }
        return Ok(None);
    }
    let (roots, what) = if refs.is_empty() {
        (super::tls::system_roots(), "well-known".to_string())
    } else {
        let mut maps = Vec::new();
        for r in refs {
            let cm = ix.config_map(ns, &r.name).ok_or_else(|| {
                ("BackendNotFound".to_string(), format!("target {:?}: ConfigMap {ns}/{} not found", t.name, r.name))
            })?;
            maps.push(cm);
        }
        let roots =
            super::tls::roots_from_config_maps(&maps).map_err(|e| invalid(format!("target {:?}: {e}", t.name)))?;
        let pem: String = maps.iter().filter_map(|m| m.data.get("ca.crt")).map(String::as_str).collect();
        let digest = ring::digest::digest(&ring::digest::SHA256, pem.as_bytes());
        let short: String = digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        (roots, format!("{} ({short})", names.join(",")))
    };
    let config = super::tls::client_config(roots, None).map_err(|e| invalid(format!("target {:?}: {e}", t.name)))?;
    Ok(Some(McpTls { roots: what, config: Arc::new(config) }))
}

/// The URL of an HTTP target: its `url`, or a ready endpoint of its Service (`Ok(Err(why))`
/// while the Service has none: the target is unavailable until one is ready).
fn where_to(
    ix: &Index<'_>,
    ns: &str,
    target: &str,
    u: &McpUrl,
    default_path: &str,
) -> Result<Result<String, String>, RefFailure> {
    let r = match (&u.url, &u.backend_ref) {
        (Some(url), None) => return http_url(target, url).map(Ok),
        (None, Some(r)) => r,
        _ => return Err(invalid(format!("target {target:?} needs exactly one of url and backendRef"))),
    };
    let svc_ns = r.namespace.as_deref().unwrap_or(ns);
    if !ix.grant_allows((SLUICE_GROUP, "MCPBackend", ns), ("", "Service", svc_ns, &r.name)) {
        return Err((
            "RefNotPermitted".into(),
            format!(
                "target {target:?}: no ReferenceGrant in {svc_ns} allows MCPBackends from {ns} to use Service {}",
                r.name
            ),
        ));
    }
    let svc = ix.service(svc_ns, &r.name).ok_or_else(|| {
        ("BackendNotFound".to_string(), format!("target {target:?}: Service {svc_ns}/{} not found", r.name))
    })?;
    let sp = svc
        .spec
        .ports
        .iter()
        .find(|p| p.port == i32::from(r.port))
        .ok_or_else(|| invalid(format!("target {target:?}: Service {svc_ns}/{} has no port {}", r.name, r.port)))?;
    let path = u.path.as_deref().unwrap_or(default_path);
    if !path.starts_with('/') {
        return Err(invalid(format!("target {target:?}: path {path:?} must start with '/'")));
    }
    // The first ready endpoint, in EndpointSlice order: an upstream session stays with one.
    let endpoint = super::backend::service_endpoints(ix, svc, sp).into_iter().find_map(|e| match e {
        Endpoint::Addr(a) => Some(a),
        Endpoint::Dns { .. } => None,
    });
    Ok(match endpoint {
        Some(addr) => Ok(format!("http://{addr}{path}")),
        None => Err(format!("Service {svc_ns}/{} port {} has no ready endpoint", r.name, r.port)),
    })
}

fn http_url(target: &str, url: &str) -> Result<String, RefFailure> {
    let uri: http::Uri = url.parse().map_err(|e| invalid(format!("target {target:?}: url {url:?}: {e}")))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid(format!(
            "target {target:?}: url: credentials in a URL are not supported (they would be sent as written and \
             shown in /config_dump); use headersFromSecrets"
        )));
    }
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(url.to_string()),
        (Some("https"), Some(_)) => Ok(url.to_string()),
        _ => Err(invalid(format!("target {target:?}: url {url:?} must be an http:// or https:// URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Resource;

    fn backend(spec: &str) -> Result<McpBackend, String> {
        let text = format!(
            "apiVersion: sluice.dev/v1alpha1\nkind: MCPBackend\nmetadata: {{name: tools, namespace: ns}}\nspec:\n{spec}"
        );
        let loaded = crate::config::parse_text("mcp.yaml", &text);
        if let Some(e) = loaded.errors.first() {
            return Err(e.to_string());
        }
        match loaded.resources.into_iter().next().map(|l| l.resource) {
            Some(Resource::McpBackend(b)) => Ok(b),
            other => Err(format!("not an MCPBackend: {other:?}")),
        }
    }

    fn built(spec: &str) -> Result<McpBackendIr, String> {
        build(&Index::new(&[]), &backend(spec)?).map_err(|(_, m)| m)
    }

    #[test]
    fn targets_naming_and_defaults() {
        let ir = built(
            "  targets:\n    - {name: time, stdio: {command: python3, args: [-m, mcp_server_time], env: {TZ: UTC}}}\n    \
             - {name: ev, streamableHttp: {url: \"http://127.0.0.1:3001/mcp\"}, headers: {x-k: v}, tools: {exclude: [\"get-*\"]}}\n",
        )
        .expect("valid");
        assert_eq!(ir.prefix, PrefixMode::Always);
        assert_eq!(ir.separator, "_");
        assert_eq!(ir.failure_mode, FailureMode::FailOpen);
        assert_eq!(&*ir.targets[0].id, "ns/tools/time");
        assert!(
            matches!(&ir.targets[0].transport, McpTransport::Stdio { env, .. } if env == &[("TZ".to_string(), "UTC".to_string())])
        );
        assert!(!ir.targets[1].tools.allows("get-env"));
        assert_eq!(ir.targets[1].headers, [("x-k".to_string(), "v".to_string())]);
        let ir = built(
            "  naming: {prefix: OnConflict, separator: \"__\"}\n  failureMode: FailClosed\n  targets: [{name: a, sse: {url: \"http://h/sse\"}}]\n",
        )
        .expect("valid");
        assert_eq!(
            (ir.prefix, ir.separator.as_str(), ir.failure_mode),
            (PrefixMode::OnConflict, "__", FailureMode::FailClosed)
        );
    }

    #[test]
    fn http_targets_at_a_service_with_headers_from_secrets() {
        let text = "\
apiVersion: v1
kind: Service
metadata: {name: mcp, namespace: ns}
spec: {ports: [{name: http, port: 80, targetPort: 3001}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mcp-1, namespace: ns, labels: {kubernetes.io/service-name: mcp}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.7], conditions: {ready: false}}, {addresses: [127.0.0.8]}]
ports: [{name: http, port: 3001}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: ns}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ns}
stringData: {token: Bearer s3cret}
";
        let loaded = crate::config::parse_text("svc.yaml", text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let resources: Vec<Resource> = loaded.resources.into_iter().map(|l| l.resource).collect();
        let ix = Index::new(&resources);
        let b = backend(
            "  targets:\n    - {name: a, streamableHttp: {backendRef: {name: mcp, port: 80}}, headersFromSecrets: {authorization: {name: creds, key: token}}}\n    \
             - {name: b, sse: {backendRef: {name: mcp, port: 80}, path: /events}}\n    \
             - {name: c, streamableHttp: {backendRef: {name: empty, port: 80}}}\n",
        )
        .expect("parses");
        let ir = build(&ix, &b).expect("valid");
        assert_eq!(ir.targets[0].transport, McpTransport::StreamableHttp { url: "http://127.0.0.8:3001/mcp".into() });
        assert_eq!(ir.targets[0].headers, [("authorization".to_string(), "Bearer s3cret".to_string())]);
        assert_eq!(ir.targets[1].transport, McpTransport::Sse { url: "http://127.0.0.8:3001/events".into() });
        assert!(
            matches!(&ir.targets[2].transport, McpTransport::Unresolved { reason } if reason.contains("no ready endpoint")),
            "{:?}",
            ir.targets[2].transport
        );
        let wrong_port = backend("  targets: [{name: a, streamableHttp: {backendRef: {name: mcp, port: 81}}}]\n");
        let err = build(&ix, &wrong_port.expect("parses")).err().map(|e| e.1).unwrap_or_default();
        assert!(err.contains("has no port 81"), "{err}");
        let no_key = backend(
            "  targets: [{name: a, stdio: {command: x}, headersFromSecrets: {x-key: {name: creds, key: nope}}}]\n",
        );
        let err = build(&ix, &no_key.expect("parses")).err().map(|e| e.1).unwrap_or_default();
        assert!(err.contains("no key \"nope\""), "{err}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let cases = [
            ("  targets: []\n", "at least one target"),
            ("  targets: [{name: a}]\n", "exactly one of"),
            ("  targets: [{name: a, stdio: {command: x}, sse: {url: \"http://h\"}}]\n", "exactly one of"),
            ("  targets: [{name: a, stdio: {command: x}}, {name: a, stdio: {command: y}}]\n", "used twice"),
            ("  targets: [{name: \"a b\", stdio: {command: x}}]\n", "letters, digits"),
            ("  targets: [{name: a, streamableHttp: {url: \"ftp://h/mcp\"}}]\n", "http:// or https:// URL"),
            (
                "  targets: [{name: a, streamableHttp: {url: \"http://h/mcp\"}, tls: {caCertificateRefs: [{name: c}]}}]\n",
                "tls needs an https:// url",
            ),
            (
                "  targets: [{name: a, streamableHttp: {url: \"https://h/mcp\"}, tls: {caCertificateRefs: [{name: c}]}}]\n",
                "ConfigMap ns/c not found",
            ),
            ("  targets: [{name: a, streamableHttp: {}}]\n", "exactly one of url and backendRef"),
            ("  targets: [{name: a, sse: {backendRef: {name: s, port: 80}}}]\n", "Service ns/s not found"),
            (
                "  targets: [{name: a, sse: {backendRef: {name: s, namespace: other, port: 80}}}]\n",
                "no ReferenceGrant in other",
            ),
            (
                "  targets: [{name: a, stdio: {command: x}, headersFromSecrets: {authorization: {name: s, key: k}}}]\n",
                "Secret",
            ),
            ("  naming: {separator: \"\"}\n  targets: [{name: a, stdio: {command: x}}]\n", "separator"),
        ];
        for (spec, needle) in cases {
            let err = built(spec).err().unwrap_or_default();
            assert!(err.contains(needle), "{spec}: expected {needle:?} in {err:?}");
        }
        let err = backend("  targets: [{name: a, stdio: {command: x, shell: true}}]\n").err().unwrap_or_default();
        assert!(err.contains("unknown field `shell`"), "{err}");
        let err = backend("  naming: {prefix: Sometimes}\n  targets: [{name: a, stdio: {command: x}}]\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("Sometimes"), "{err}");
    }
}
