//! Translation tests: manifests in, route tables and status out.

use std::sync::Arc;

use http::{HeaderMap, Method};

use super::{Context, translate};
use crate::api::Resource;
use crate::ir::route::RequestView;
use crate::ir::{BindKey, ObjectKey, Snapshot};

const BASE: &str = "
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sluice}
spec: {controllerName: sluice.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: sluice
  listeners:
    - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: Same}}}
    - name: web
      protocol: HTTP
      port: 80
      hostname: '*.example.com'
      allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: web}}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {team: web}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: infra}
spec: {ports: [{name: http, port: 8080, targetPort: 3000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1, namespace: infra, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.9]}]
ports: [{name: http, port: 3999}]
";

fn build(extra: &str) -> Snapshot {
    from_yaml(&format!("{BASE}---\n{extra}"))
}

/// The snapshot of manifests in YAML (which must load without error), translated as the
/// runtime would on 127.0.0.1. For tests.
pub(crate) fn from_yaml(text: &str) -> Snapshot {
    let loaded = crate::config::parse_text("test.yaml", text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let mut resources: Vec<Resource> = loaded.resources.into_iter().map(|l| l.resource).collect();
    crate::runtime::Generations::default().assign(&mut resources);
    let ctx = Context {
        version: 1,
        now: "2026-01-01T00:00:00Z".into(),
        default_address: "127.0.0.1".parse().expect("ip"),
        address_usable: Box::new(|_| true),
    };
    translate(&resources, &ctx)
}

fn route_condition(s: &Snapshot, ns: &str, name: &str, parent: usize, ty: &str) -> (String, String) {
    let r = s.status.find("HTTPRoute", Some(ns), name).unwrap_or_else(|| panic!("no status for {ns}/{name}"));
    let conds = r.status["parents"][parent]["conditions"].as_array().expect("conditions");
    let c = conds.iter().find(|c| c["type"] == ty).unwrap_or_else(|| panic!("no {ty} in {conds:?}"));
    (c["status"].as_str().unwrap_or("").to_string(), c["reason"].as_str().unwrap_or("").to_string())
}

/// The rule (route/rule label) serving a request on infra/gw:80.
fn served(s: &Snapshot, host: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<String> {
    let port = s.port(&BindKey { gateway: ObjectKey::new("infra", "gw"), port: 80 })?;
    let listener = port.listener_for(host)?;
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
    }
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    let view = RequestView { method: &method, path, query, headers: &map };
    listener.routes.find(host, &view).map(|e| Arc::clone(&e.rule).label.to_string())
}

#[test]
fn precedence_follows_the_spec() {
    let s = build(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules:
    - name: prefix-short
      matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: svc, port: 8080}]
    - name: prefix-long
      matches: [{path: {type: PathPrefix, value: /foo/}}]
      backendRefs: [{name: svc, port: 8080}]
    - name: exact
      matches: [{path: {type: Exact, value: /foo}}]
      backendRefs: [{name: svc, port: 8080}]
    - name: method
      matches: [{path: {type: PathPrefix, value: /foo}, method: POST}]
      backendRefs: [{name: svc, port: 8080}]
    - name: headers
      matches: [{path: {type: PathPrefix, value: /foo}, headers: [{name: x, value: '1'}, {name: y, value: '2'}]}]
      backendRefs: [{name: svc, port: 8080}]
",
    );
    assert_eq!(served(&s, "any", "GET", "/bar", &[]).as_deref(), Some("infra/a/prefix-short"));
    assert_eq!(served(&s, "any", "GET", "/foobar", &[]).as_deref(), Some("infra/a/prefix-short"));
    assert_eq!(served(&s, "any", "GET", "/foo", &[]).as_deref(), Some("infra/a/exact"));
    assert_eq!(served(&s, "any", "GET", "/foo/x", &[]).as_deref(), Some("infra/a/prefix-long"));
    assert_eq!(served(&s, "any", "POST", "/foo/x", &[("x", "1"), ("y", "2")]).as_deref(), Some("infra/a/prefix-long"));
    let s2 = build(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules:
    - name: headers
      matches: [{path: {type: PathPrefix, value: /foo}, headers: [{name: x, value: '1'}, {name: y, value: '2'}]}]
      backendRefs: [{name: svc, port: 8080}]
    - name: method
      matches: [{path: {type: PathPrefix, value: /foo}, method: POST}]
      backendRefs: [{name: svc, port: 8080}]
",
    );
    assert_eq!(served(&s2, "any", "POST", "/foo", &[("x", "1"), ("y", "2")]).as_deref(), Some("infra/b/method"));
    assert_eq!(served(&s2, "any", "GET", "/foo", &[("x", "1"), ("y", "2")]).as_deref(), Some("infra/b/headers"));
    assert_eq!(served(&s2, "any", "GET", "/foo", &[("x", "1")]), None);
}

#[test]
fn allowed_routes_and_hostnames() {
    let s = build(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: from-web, namespace: web}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [a.example.com, other.org]
  rules: [{backendRefs: [{name: svc, namespace: infra, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-host-match, namespace: web}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [other.org]
  rules: [{backendRefs: [{name: svc, namespace: infra, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: elsewhere, namespace: other}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{name: svc, namespace: infra, port: 8080}]}]
",
    );
    assert_eq!(route_condition(&s, "web", "from-web", 0, "Accepted"), ("True".into(), "Accepted".into()));
    // Cross-namespace backend without a ReferenceGrant.
    assert_eq!(route_condition(&s, "web", "from-web", 0, "ResolvedRefs"), ("False".into(), "RefNotPermitted".into()));
    assert_eq!(
        route_condition(&s, "web", "no-host-match", 0, "Accepted"),
        ("False".into(), "NoMatchingListenerHostname".into())
    );
    assert_eq!(
        route_condition(&s, "other", "elsewhere", 0, "Accepted"),
        ("False".into(), "NotAllowedByListeners".into())
    );
    assert_eq!(served(&s, "a.example.com", "GET", "/", &[]).as_deref(), Some("web/from-web/0"));
    // other.org is no hostname of the web listener, and the http listener takes only infra's routes.
    assert_eq!(served(&s, "other.org", "GET", "/", &[]), None);
    let gw = s.status.find("Gateway", Some("infra"), "gw").expect("gateway status");
    assert_eq!(gw.status["listeners"][1]["attachedRoutes"], 1);
    assert_eq!(gw.status["listeners"][0]["attachedRoutes"], 0);
}

#[test]
fn reference_grant_permits_cross_namespace_backends() {
    let s = build(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: web}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: svc, namespace: infra, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-web, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: '', kind: Service}]
",
    );
    assert_eq!(route_condition(&s, "web", "r", 0, "ResolvedRefs"), ("True".into(), "ResolvedRefs".into()));
    let dump = serde_json::to_string(&s).expect("dump");
    assert!(dump.contains("127.0.0.9:3999"), "endpoint from the EndpointSlice: {dump}");
}

#[test]
fn unsupported_filter_rejects_only_that_route() {
    let s = build(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{filters: [{type: ExtensionRef, extensionRef: {group: x.io, kind: Y, name: z}}], backendRefs: [{name: svc, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{matches: [{path: {type: PathPrefix, value: /good}}], backendRefs: [{name: svc, port: 8080}]}]
",
    );
    assert_eq!(route_condition(&s, "infra", "bad", 0, "Accepted"), ("False".into(), "UnsupportedValue".into()));
    assert_eq!(served(&s, "any", "GET", "/good", &[]).as_deref(), Some("infra/good/0"));
    assert_eq!(served(&s, "any", "GET", "/other", &[]), None);
}
