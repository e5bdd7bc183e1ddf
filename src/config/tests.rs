//! Loader tests: documents, files, directories and every kind of error.

use std::path::{Path, PathBuf};

use super::*;

const ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: foo
  namespace: default
spec:
  parentRefs:
  - name: gw
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 80}]
";

fn messages(result: &LoadResult) -> Vec<String> {
    result.errors.iter().map(ToString::to_string).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn multi_document_yaml() {
    let text = format!("# leading comment\n---\n{ROUTE}---\n---\n# only a comment\n---\n{SERVICE}");
    let loaded = parse_documents("x.yaml", &text).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].resource.kind(), "HTTPRoute");
    assert_eq!(loaded[0].source, Source { file: "x.yaml".into(), document: 1, item: None, line: 3 });
    assert_eq!(loaded[1].resource.kind(), "Service");
    assert_eq!(loaded[1].source.document, 2);
    assert_eq!(loaded[1].source.line, 15);
    assert_eq!(loaded[1].source.to_string(), "x.yaml:15 (document 2)");
}

#[test]
fn list_documents() {
    let text = "\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: Secret, metadata: {name: b}}
---
apiVersion: v1
kind: ServiceList
items:
- metadata: {name: c}
- metadata: {name: d}
  spec: {ports: [{port: x}]}
";
    let result = parse_text("list.yaml", text);
    let kinds: Vec<_> = result.resources.iter().map(|l| l.resource.kind()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "Service"]);
    assert_eq!(result.resources[1].source.item, Some(2));
    assert_eq!(
        messages(&result),
        ["list.yaml:7 (document 2, item 2, Service d): spec.ports[0].port: \
          invalid type: string \"x\", expected i32"]
    );
}

#[test]
fn json_documents() {
    let text = "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n\n\
                {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}\n\
                {\"apiVersion\": \"v1\",\n \"kind\": }\n";
    let result = parse_text("x.json", text);
    assert_eq!(result.resources.len(), 2);
    assert_eq!(result.resources[1].source.line, 3);
    assert_eq!(messages(&result), ["x.json:5:10 (document 3): invalid JSON: expected value"]);
}

#[test]
fn yaml_syntax_error_has_line_and_column_and_spares_other_documents() {
    let text =
        format!("{SERVICE}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n labels: {{}}\n---\n{ROUTE}");
    let result = parse_text("bad.yaml", &text);
    assert_eq!(
        messages(&result),
        ["bad.yaml:11:2 (document 2): invalid YAML: while parsing a block mapping, \
          did not find expected key"]
    );
    let kinds: Vec<_> = result.resources.iter().map(|l| l.resource.kind()).collect();
    assert_eq!(kinds, ["Service", "HTTPRoute"]);
    assert_eq!(result.resources[1].source.document, 3);
}

#[test]
fn field_errors_point_at_the_field() {
    let text =
        format!("{SERVICE}---\n{ROUTE}  rules:\n  - matches:\n    - path:\n        tyep: Exact\n        value: /\n");
    let result = parse_text("examples/x.yaml", &text);
    assert_eq!(
        messages(&result),
        ["examples/x.yaml:18:9 (document 2, HTTPRoute default/foo): \
          spec.rules[0].matches[0].path: unknown field `tyep`, expected `type` or `value`"]
    );
    let text = ROUTE.replace("  - name: gw\n", "  - name: gw\n    port: 80000\n");
    assert_eq!(
        messages(&parse_text("p.yaml", &text)),
        ["p.yaml:9:11 (document 1, HTTPRoute default/foo): spec.parentRefs[0].port: \
          invalid value: integer `80000`, expected u16"]
    );
    let text = ROUTE.replace("  - name: gw\n", "  - sectionName: http\n");
    assert_eq!(
        messages(&parse_text("m.yaml", &text)),
        ["m.yaml:8:5 (document 1, HTTPRoute default/foo): spec.parentRefs[0]: \
          missing field `name`"]
    );
}

#[test]
fn field_error_without_position_names_the_document_line() {
    // An explicit null elsewhere keeps the loader from re-parsing for a position.
    let text = ROUTE.replace("spec:\n", "spec:\n  hostnames: null\n  bogus: 1\n");
    assert_eq!(
        messages(&parse_text("n.yaml", &text)),
        ["n.yaml:1 (document 1, HTTPRoute default/foo): spec: unknown field `bogus`, \
          expected one of `parentRefs`, `useDefaultGateways`, `hostnames`, `rules`"]
    );
}

#[test]
fn unknown_kind_and_missing_name() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {namespace: apps}
";
    let errors = messages(&parse_text("k.yaml", text));
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].starts_with(
            "k.yaml:1 (document 1, Deployment apps/web): unsupported kind `Deployment` \
             (apiVersion `apps/v1`); supported kinds: GatewayClass"
        ),
        "{}",
        errors[0]
    );
    assert_eq!(errors[1], "k.yaml:5 (document 2, ConfigMap): metadata.name: a name is required");
}

#[test]
fn duplicates_name_both_sources() {
    let text = format!("{SERVICE}---\n{ROUTE}---\n{SERVICE}");
    let result = parse_text("d.yaml", &text);
    assert_eq!(result.resources.len(), 2);
    assert_eq!(
        messages(&result),
        ["d.yaml:16 (document 3, Service default/svc): duplicate resource: \
          Service default/svc is already defined at d.yaml:1 (document 1)"]
    );
    // The namespace defaults to `default` when comparing.
    let other = SERVICE.replace("{name: svc}", "{name: svc, namespace: default}");
    let result = parse_text("e.yaml", &format!("{SERVICE}---\n{other}"));
    assert_eq!(result.errors.len(), 1);
    assert!(parse_documents("e.yaml", &format!("{SERVICE}---\n{other}")).is_err());
}

#[test]
fn directories_are_walked_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "b/route.yml", ROUTE);
    write(root, "a/svc.yaml", SERVICE);
    write(root, "a/deeper/cm.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#);
    write(root, "notes.txt", "not a manifest");
    write(root, ".hidden/svc.yaml", SERVICE);
    let extra = write(root, "extra.txt", &SERVICE.replace("svc", "other"));
    let result = load_paths(&[root.to_path_buf(), extra.clone()]);
    assert!(result.is_ok(), "{:?}", messages(&result));
    let names: Vec<_> =
        result.resources.iter().map(|l| (l.resource.meta().name().to_owned(), l.source.file.clone())).collect();
    let file = |p: &str| root.join(p).display().to_string();
    assert_eq!(
        names,
        [
            ("c".to_owned(), file("a/deeper/cm.json")),
            ("svc".to_owned(), file("a/svc.yaml")),
            ("foo".to_owned(), file("b/route.yml")),
            ("other".to_owned(), extra.display().to_string()),
        ]
    );
    // Naming a file that the directory walk also found reads it once.
    let again = load_paths(&[root.to_path_buf(), root.join("a/svc.yaml")]);
    assert!(again.is_ok(), "{:?}", messages(&again));
    assert_eq!(again.resources.len(), 3);
}

#[test]
fn all_errors_are_collected_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = write(root, "a.yaml", SERVICE);
    let b = write(root, "b.yaml", &format!("{SERVICE}---\nkey: [unclosed\n"));
    let missing = root.join("missing.yaml");
    let result = load_paths(&[a.clone(), b.clone(), missing.clone()]);
    let errors = messages(&result);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with(&format!("{}: cannot read: ", missing.display())), "{}", errors[0]);
    assert!(
        errors[1].starts_with(&format!("{}:7:", b.display())) && errors[1].contains("invalid YAML"),
        "{}",
        errors[1]
    );
    assert_eq!(
        errors[2],
        format!(
            "{}:1 (document 1, Service default/svc): duplicate resource: Service default/svc \
             is already defined at {}:1 (document 1)",
            b.display(),
            a.display()
        )
    );
    assert_eq!(result.resources.len(), 1);
    let all = result.into_result().unwrap_err();
    assert_eq!(all.to_string().lines().count(), 3);
}

#[test]
fn yaml_dialect() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: c, labels: {a: yes, b: n, c: on}}
data: {mode: '0755', octal: 0755}
";
    let loaded = parse_documents("c.yaml", text).unwrap();
    let crate::api::Resource::ConfigMap(cm) = &loaded[0].resource else { panic!("not a ConfigMap") };
    // Leading zeros keep a plain scalar a string, as YAML 1.2 has no octal `0755`.
    assert_eq!(cm.data["octal"], "0755");
    assert_eq!(cm.metadata.labels["a"], "yes");
    assert_eq!(cm.metadata.labels["b"], "n");
    assert_eq!(cm.data["mode"], "0755");
}

#[test]
fn unreadable_directory_entry_and_empty_input() {
    assert!(parse_text("empty.yaml", "").is_ok());
    assert!(parse_text("empty.yaml", "---\n# nothing\n...\n").resources.is_empty());
    let result = load_paths(&[PathBuf::from("/nonexistent/sluice")]);
    assert_eq!(messages(&result), ["/nonexistent/sluice: cannot read: No such file or directory (os error 2)"]);
}
