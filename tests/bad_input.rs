//! Bad configuration gets a precise message naming the file and the resource; `check` exits 1.

mod support;

use std::path::Path;

use support::process;

const HEADER: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sluice}
spec: {controllerName: sluice.dev/gateway-controller}
---
";

fn check_text(name: &str, text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write");
    let out = process::check(&[Path::new(&file)], false);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn yaml_syntax_error_names_file_line_and_column() {
    let (ok, out) = check_text("broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n   bad: indent\n");
    assert!(!ok);
    assert!(out.contains("broken.yaml:5:7"), "{out}");
    assert!(out.contains("invalid YAML"), "{out}");
}

#[test]
fn unknown_kind_is_named() {
    let (ok, out) = check_text("kind.yaml", "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: x}\n");
    assert!(!ok);
    assert!(out.contains("kind.yaml:1") && out.contains("unsupported kind `Frobnicator`"), "{out}");
}

#[test]
fn invalid_field_names_resource_and_path() {
    let text = format!(
        "{HEADER}apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r, namespace: team}}\nspec:\n  rules:\n    - matches:\n        - path: {{tyep: Exact, value: /}}\n"
    );
    let (ok, out) = check_text("field.yaml", &text);
    assert!(!ok);
    assert!(out.contains("HTTPRoute team/r"), "{out}");
    assert!(out.contains("spec.rules[0].matches[0].path") && out.contains("tyep"), "{out}");
}

#[test]
fn dangling_references_and_duplicate_listeners_are_reported() {
    let text = format!(
        "{HEADER}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: sluice
  listeners:
    - {{name: http, protocol: HTTP, port: 8080}}
    - {{name: http, protocol: HTTP, port: 8081}}
    - {{name: other, protocol: HTTP, port: 8080}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: route, namespace: default}}
spec:
  parentRefs: [{{name: gw}}, {{name: missing-gw}}]
  rules:
    - backendRefs: [{{name: nowhere, port: 80}}]
"
    );
    let (ok, out) = check_text("refs.yaml", &text);
    assert!(!ok);
    for expected in [
        "HTTPRoute default/route parent gw: ResolvedRefs=False (BackendNotFound): Service default/nowhere not found",
        "HTTPRoute default/route parent missing-gw: Accepted=False (NoMatchingParent): Gateway default/missing-gw not found",
        "Gateway default/gw listener http: Conflicted=True (HostnameConflict): listener name \"http\" is used more than once",
        "Gateway default/gw listener other: Conflicted=True (HostnameConflict): listener \"other\" uses the same port and hostname as \"http\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn duplicate_resources_name_both_places() {
    let doc = "apiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: default}\nspec: {ports: [{port: 80}]}\n";
    let (ok, out) = check_text("dup.yaml", &format!("{doc}---\n{doc}"));
    assert!(!ok);
    assert!(out.contains("duplicate resource: Service default/svc is already defined at"), "{out}");
}

#[test]
fn unreadable_path_is_reported() {
    let out = process::check(&[Path::new("/nonexistent/sluice.yaml")], false);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/nonexistent/sluice.yaml"), "{text}");
}

#[test]
fn json_output_carries_errors_and_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("x.yaml");
    std::fs::write(&file, format!("{HEADER}apiVersion: example.com/v1\nkind: Frob\nmetadata: {{name: x}}\n"))
        .expect("write");
    let out = process::check(&[&file], true);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["resources"][0]["kind"], "GatewayClass", "{v}");
    assert_eq!(v["resources"][0]["status"]["conditions"][0]["status"], "True", "{v}");
}
