//! `deploy/` against the code: the ClusterRole grants reading exactly the kinds Kubernetes mode
//! watches and patching exactly the status subresources it writes, the Role exactly what the
//! Lease election does, and `kubectl kustomize deploy/` renders every manifest.

use std::collections::BTreeSet;

use serde_json::Value;
use sluice::k8s::{STATUS_KINDS, kinds};

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(apiGroup, resource) → verbs` of a role's rules.
fn grants(role: &Value) -> BTreeSet<(String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: Vec<String> =
            rule["verbs"].as_array().expect("verbs").iter().map(|v| v.as_str().expect("verb").into()).collect();
        for g in rule["apiGroups"].as_array().expect("apiGroups") {
            for r in rule["resources"].as_array().expect("resources") {
                let mut verbs = verbs.clone();
                verbs.sort();
                out.insert((g.as_str().expect("group").into(), r.as_str().expect("resource").into(), verbs));
            }
        }
    }
    out
}

#[test]
fn the_roles_grant_what_the_code_uses_and_no_more() {
    let docs = documents("deploy/rbac.yaml");
    let role_of = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
    let read = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut expected = BTreeSet::new();
    for w in kinds::all() {
        expected.insert((w.resource.group.clone(), w.resource.plural.clone(), read(&["get", "list", "watch"])));
    }
    for k in STATUS_KINDS {
        let w = kinds::all().into_iter().find(|w| w.kind == k).expect("a watched kind");
        expected.insert((w.resource.group.clone(), format!("{}/status", w.resource.plural), read(&["patch"])));
    }
    assert_eq!(grants(role_of("ClusterRole")), expected, "the ClusterRole against src/k8s (kinds, STATUS_KINDS)");
    // The election reads (get), creates and replaces (update) its Lease: src/k8s/lease.rs.
    let lease: BTreeSet<_> =
        [("coordination.k8s.io".to_string(), "leases".to_string(), read(&["create", "get", "update"]))].into();
    assert_eq!(grants(role_of("Role")), lease);
}

/// `deploy/crds/` is what `sluice crds` prints (docs/kubernetes.md says how to regenerate it).
#[test]
fn the_committed_crds_are_the_generated_ones() {
    for (file, doc) in sluice::api::crds::all() {
        let path = format!("deploy/crds/{file}");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            sluice::api::crds::to_yaml(&doc),
            "{path} is stale: regenerate it with `cargo run -- crds` (docs/kubernetes.md)"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice")).arg("crds").output().expect("sluice crds");
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    let joined: Vec<String> = sluice::api::crds::all().iter().map(|(_, d)| sluice::api::crds::to_yaml(d)).collect();
    assert_eq!(printed, joined.join("---\n"), "`sluice crds` prints the committed files, in order");
}

#[test]
fn kustomize_renders_the_deployment() {
    let out = std::process::Command::new("kubectl").args(["kustomize", "deploy/"]).output().unwrap_or_else(|e| {
        panic!("kubectl is needed to render deploy/ ({e}): install it (Debian: apt-get install kubernetes-client)")
    });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let docs = serde_saphyr::from_multiple::<Value>(&text).expect("rendered YAML");
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    let crds: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(crds, ["aibackends.sluice.dev", "mcpbackends.sluice.dev", "trafficpolicies.sluice.dev"]);
    for k in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "GatewayClass",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").expect("deployment");
    assert_eq!(deployment["metadata"]["namespace"], "sluice-system");
    let pod = &deployment["spec"]["template"]["spec"];
    let args: Vec<&str> =
        pod["containers"][0]["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    assert!(args.contains(&"--kubernetes"), "{args:?}");
    // The grace period outlasts the drain timeout the container is given.
    let drain: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--drain-timeout="))
        .and_then(|d| d.strip_suffix('s'))
        .and_then(|d| d.parse().ok())
        .expect("--drain-timeout=Ns");
    assert!(pod["terminationGracePeriodSeconds"].as_u64().expect("grace period") > drain);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["containers"][0]["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(pod["containers"][0]["livenessProbe"]["httpGet"]["path"], "/healthz");
}
