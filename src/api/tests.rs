//! Tests of the typed resources against the CRDs and the conformance manifests.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple_with_options::<Value>(text, crate::config::yaml_options())
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn parse(text: &str) -> Result<Resource, ResourceError> {
    let mut docs = docs(text);
    assert_eq!(docs.len(), 1);
    Resource::from_value(docs.remove(0))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// Every field of every spec (generated from the CRDs by
/// `testdata/gen_every_field.py`) parses, and serializes back unchanged.
#[test]
fn every_crd_field_round_trips() {
    let text = include_str!("testdata/every-field.yaml");
    let docs = docs(text);
    assert_eq!(docs.len(), 5);
    for doc in docs {
        let resource = Resource::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_value(&resource).unwrap(), doc);
    }
}

#[test]
fn core_kinds_round_trip() {
    for doc in docs(include_str!("testdata/core-kinds.yaml")) {
        let resource = Resource::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_value(&resource).unwrap(), doc);
    }
}

fn conformance_dir() -> PathBuf {
    match std::env::var_os("SLUICE_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance")),
    }
}

#[test]
fn every_conformance_manifest_parses() {
    let dir = conformance_dir();
    let mut files = vec![dir.join("base/manifests.yaml")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(dir.join("manifests"))
        .unwrap_or_else(|e| panic!("{}: {e} (set SLUICE_CONFORMANCE_DIR)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    more.sort();
    files.extend(more);
    let (mut parsed, mut deployments) = (0, 0);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in docs(&text) {
            if doc["kind"] == "Deployment" {
                let e = Resource::from_value(doc).unwrap_err();
                assert!(matches!(e.reason, ResourceErrorReason::UnsupportedKind { .. }), "{e}");
                deployments += 1;
                continue;
            }
            let r = Resource::from_value(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(!r.meta().name().is_empty());
            parsed += 1;
        }
    }
    assert!(files.len() > 70 && parsed > 180 && deployments > 0);
}

#[test]
fn typo_names_resource_and_path() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foo, namespace: gateway-conformance-infra}
spec:
  rules:
  - matches:
    - path: {tyep: Exact, value: /}
"#;
    assert_eq!(
        err(text),
        "HTTPRoute gateway-conformance-infra/foo: spec.rules[0].matches[0].path: \
         unknown field `tyep`, expected `type` or `value`"
    );
}

#[test]
fn missing_required_field_and_bad_enum() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: sluice
  listeners:
  - {name: http, protocol: HTTP}
"#;
    assert_eq!(err(text), "Gateway gw: spec.listeners[0]: missing field `port`");
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  gatewayClassName: sluice
  listeners:
  - {name: https, port: 443, protocol: HTTPS, tls: {mode: Terminated}}
"#;
    assert_eq!(
        err(text),
        "Gateway ns/gw: spec.listeners[0].tls.mode: \
         unknown variant `Terminated`, expected `Terminate` or `Passthrough`"
    );
}

#[test]
fn open_values_parse() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw, kind: ListenerSet, group: example.com}]
  rules:
  - matches: [{path: {type: Glob, value: /x}}]
    filters: [{type: SomethingNew}]
    backendRefs: [{name: b, kind: Bucket, group: storage.example.com}]
"#;
    let Resource::HttpRoute(route) = parse(text).unwrap() else { panic!("not a route") };
    let rule = &route.spec.rules[0];
    assert_eq!(rule.matches[0].path.as_ref().unwrap().match_type(), "Glob");
    assert_eq!(rule.filters[0].r#type, "SomethingNew");
    assert_eq!(rule.backend_refs[0].kind(), "Bucket");
    assert_eq!(rule.backend_refs[0].weight(), 1);
    assert_eq!(route.metadata.namespace(), "default");
}

#[test]
fn unsupported_kind_and_version() {
    let e = err("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\n");
    assert!(
        e.starts_with(
            "Deployment ns/d: unsupported kind `Deployment` (apiVersion `apps/v1`); \
             supported kinds: GatewayClass (gateway.networking.k8s.io/v1, \
             gateway.networking.k8s.io/v1beta1), Gateway"
        ),
        "{e}"
    );
    assert!(e.contains("EndpointSlice (discovery.k8s.io/v1)"), "{e}");
    let e = err("apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {}\n");
    assert_eq!(
        e,
        "HTTPRoute r: unsupported apiVersion `gateway.networking.k8s.io/v1alpha2` for HTTPRoute; \
         use gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1beta1"
    );
    assert_eq!(err("kind: Service\nmetadata: {name: s}\n"), "Service s: `apiVersion` is missing or not a string");
    assert_eq!(err("- a\n- b\n"), "expected a mapping with apiVersion and kind, found a sequence");
}

#[test]
fn older_versions_are_accepted() {
    for (version, kind, spec) in [
        ("v1beta1", "ReferenceGrant", "{from: [{group: g, kind: K, namespace: n}], to: [{group: '', kind: Service}]}"),
        ("v1beta1", "HTTPRoute", "{}"),
        ("v1beta1", "Gateway", "{gatewayClassName: c, listeners: []}"),
        ("v1beta1", "GatewayClass", "{controllerName: example.com/c}"),
        (
            "v1alpha3",
            "BackendTLSPolicy",
            "{targetRefs: [{group: '', kind: Service, name: s}], validation: {hostname: h}}",
        ),
    ] {
        let text = format!(
            "apiVersion: gateway.networking.k8s.io/{version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {spec}\n"
        );
        let r = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.kind(), kind);
    }
}

#[test]
fn name_is_required_and_nulls_are_absent() {
    assert_eq!(
        err("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: ns}\n"),
        "ConfigMap: metadata.name: a name is required"
    );
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, labels: null}\ndata:\n";
    let Resource::Secret(secret) = parse(text).unwrap() else { panic!("not a secret") };
    assert!(secret.data.is_empty() && secret.metadata.labels.is_empty());
}

#[test]
fn keys_and_scopes() {
    let r = parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n").unwrap();
    assert_eq!(r.key().to_string(), "Namespace ns");
    let r = parse("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n").unwrap();
    assert_eq!(r.key().namespace.as_deref(), Some("default"));
    assert_eq!(r.key().to_string(), "Service default/s");
    assert_eq!(ResourceKind::HttpRoute.group(), "gateway.networking.k8s.io");
    assert_eq!(ResourceKind::Secret.group(), "");
    assert_eq!(ResourceKind::EndpointSlice.group(), "discovery.k8s.io");
}

#[test]
fn secret_values_decode() {
    let secret: Secret = serde_json::from_value(json!({
        "data": {"a": "aGVsbG8=", "bad": "!!", "both": "eA=="},
        "stringData": {"both": "plain"},
    }))
    .unwrap();
    assert_eq!(secret.get("a").unwrap().unwrap(), b"hello");
    assert_eq!(secret.get("both").unwrap().unwrap(), b"plain");
    assert_eq!(secret.get("missing").unwrap(), None);
    let e = secret.get("bad").unwrap_err();
    assert!(e.to_string().starts_with("key `bad` of the Secret is not valid base64"), "{e}");
}

#[test]
fn target_port_is_int_or_string() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - {port: 80, targetPort: 8080}\n  - {port: 81, targetPort: http}\n  - {port: 82, targetPort: [1]}\n";
    assert_eq!(
        err(text),
        "Service s: spec.ports[2].targetPort: invalid type: sequence, expected an integer or a string"
    );
    let Resource::Service(svc) = parse(&text.replace("  - {port: 82, targetPort: [1]}\n", "")).unwrap() else {
        panic!("not a service")
    };
    assert_eq!(svc.spec.ports[0].target_port, Some(IntOrString::Int(8080)));
    assert_eq!(svc.spec.ports[1].target_port, Some(IntOrString::String("http".into())));
}

#[test]
fn resource_deserializes_through_from_value() {
    let r: Resource = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}
    }))
    .unwrap();
    assert_eq!(r.kind(), "ConfigMap");
    let e = serde_json::from_value::<Resource>(json!({"apiVersion": "v1", "kind": "Pod"})).unwrap_err().to_string();
    assert!(e.starts_with("Pod: unsupported kind `Pod`"), "{e}");
}
