//! Our CRDs (AIBackend, MCPBackend, TrafficPolicy), generated from the Rust types that read
//! them: `sluice crds` prints them, `deploy/crds/` holds them, and `tests/deploy.rs` fails when
//! the two differ. The schemas are made structural, as the API server requires: subschemas
//! inlined, enums rewritten by kube's rewriter, and what the API server refuses or would act on
//! removed (`additionalProperties: false`, which our types' `deny_unknown_fields` gives,
//! is left to Sluice's own reading; defaults are Sluice's to apply, not the API server's).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::aibackend::AiBackendSpec;
use super::mcpbackend::McpBackendSpec;
use super::trafficpolicy::TrafficPolicySpec;

/// The structural schema of `T`.
fn schema_of<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::openapi3();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let generator = settings.with_transform(kube_core::schema::StructuralSchemaRewriter).into_generator();
    let mut v = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null);
    clean(&mut v, true);
    v
}

/// Removes what a structural schema may not hold (or what the API server would act on).
fn clean(v: &mut Value, root: bool) {
    match v {
        Value::Object(m) => {
            // An optional enum: `anyOf: [the enum, null]` becomes the enum, nullable (a node's
            // `anyOf` may not carry its type).
            if let Some(Value::Array(any)) = m.get("anyOf")
                && any.len() == 2
                && let Some(null_at) = any.iter().position(|a| a["enum"] == json!([null]) || a["type"] == "null")
            {
                let other = any[1 - null_at].clone();
                m.remove("anyOf");
                if let Value::Object(o) = other {
                    for (k, val) in o {
                        m.entry(k).or_insert(val);
                    }
                }
                m.insert("nullable".into(), Value::Bool(true));
            }
            if root {
                m.remove("title");
            }
            m.remove("$schema");
            m.remove("default");
            if m.get("additionalProperties") == Some(&Value::Bool(false)) {
                m.remove("additionalProperties");
            }
            for (k, child) in m.iter_mut() {
                // `properties` maps field names to schemas: each of those is cleaned, not the map.
                if k == "properties" {
                    if let Value::Object(props) = child {
                        props.values_mut().for_each(|p| clean(p, false));
                    }
                } else {
                    clean(child, false);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| clean(i, false)),
        _ => {}
    }
}

fn crd(kind: &str, plural: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.sluice.dev")},
        "spec": {
            "group": "sluice.dev",
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_ascii_lowercase(),
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    })
}

/// Every CRD of ours: (file name, document).
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("aibackends.yaml", crd("AIBackend", "aibackends", schema_of::<AiBackendSpec>())),
        ("mcpbackends.yaml", crd("MCPBackend", "mcpbackends", schema_of::<McpBackendSpec>())),
        ("trafficpolicies.yaml", crd("TrafficPolicy", "trafficpolicies", schema_of::<TrafficPolicySpec>())),
    ]
}

/// A CRD as the YAML `sluice crds` prints and `deploy/crds/` holds.
pub fn to_yaml(doc: &Value) -> String {
    serde_saphyr::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the API server requires of a structural schema, checked over every node: a type on
    /// every schema (or preserved unknown fields), no references, no `additionalProperties:
    /// false`, no defaults.
    fn structural(v: &Value, path: &str, problems: &mut Vec<String>) {
        let Value::Object(m) = v else { return };
        if m.contains_key("$ref") || m.contains_key("definitions") || m.contains_key("$defs") {
            problems.push(format!("{path}: a reference"));
        }
        if m.get("additionalProperties") == Some(&Value::Bool(false)) || m.contains_key("default") {
            problems.push(format!("{path}: additionalProperties false or a default"));
        }
        let typed = m.contains_key("type")
            || m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || m.contains_key("x-kubernetes-int-or-string");
        if !typed
            && !path.ends_with("/oneOf")
            && !path.ends_with("/anyOf")
            && !path.contains("/oneOf/")
            && !path.contains("/anyOf/")
        {
            problems.push(format!("{path}: no type"));
        }
        for (k, child) in m {
            match (k.as_str(), child) {
                ("properties", Value::Object(props)) => {
                    for (name, p) in props {
                        structural(p, &format!("{path}.{name}"), problems);
                    }
                }
                ("items" | "additionalProperties", c) => structural(c, &format!("{path}[]"), problems),
                ("oneOf" | "anyOf" | "allOf", Value::Array(a)) => {
                    for (i, c) in a.iter().enumerate() {
                        structural(c, &format!("{path}/{k}/{i}"), problems);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn the_schemas_are_structural_and_name_the_fields() {
        for (file, doc) in all() {
            let schema = &doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            let mut problems = Vec::new();
            structural(&schema["properties"]["spec"], "spec", &mut problems);
            assert!(problems.is_empty(), "{file}: {problems:#?}");
        }
        let ai = &all()[0].1["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(ai["properties"]["models"].is_object(), "{ai}");
        let policy = &all()[2].1["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(policy["properties"]["rateLimits"]["items"]["properties"]["per"].is_object(), "{policy}");
    }

    /// `value` as the API server types it for CEL: numbers of a `number` schema are doubles.
    fn typed(schema: &Value, value: &Value) -> Value {
        match value {
            Value::Number(n) if schema["type"] == "number" => json!(n.as_f64().unwrap_or_default()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), typed(&schema["properties"][k.as_str()], v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| typed(&schema["items"], v)).collect()),
            other => other.clone(),
        }
    }

    /// Every `x-kubernetes-validations` rule of `schema` and its subschemas, run on `value`
    /// with `self` bound to the node, as the API server runs them: the messages of the rules
    /// that do not hold (or do not compile).
    fn cel_failures(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(Value::Array(rules)) = schema.get("x-kubernetes-validations") {
            for r in rules {
                let (rule, message) =
                    (r["rule"].as_str().unwrap_or_default(), r["message"].as_str().unwrap_or_default());
                let program = match cel::Program::compile(rule) {
                    Ok(p) => p,
                    Err(e) => {
                        out.push(format!("{path}: {rule:?} does not compile: {e}"));
                        continue;
                    }
                };
                let mut ctx = cel::Context::default();
                if let Err(e) = ctx.add_variable("self", typed(schema, value)) {
                    out.push(format!("{path}: {e}"));
                    continue;
                }
                match program.execute(&ctx) {
                    Ok(cel::Value::Bool(true)) => {}
                    Ok(cel::Value::Bool(false)) => out.push(format!("{path}: {message}")),
                    other => out.push(format!("{path}: {rule:?} gave {other:?}")),
                }
            }
        }
        match value {
            Value::Object(m) => {
                for (k, v) in m {
                    if let Some(sub) = schema.get("properties").and_then(|p| p.get(k)) {
                        cel_failures(sub, v, &format!("{path}.{k}"), out);
                    }
                }
            }
            Value::Array(a) => {
                if let Some(items) = schema.get("items") {
                    for (i, v) in a.iter().enumerate() {
                        cel_failures(items, v, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn spec_schema(kind: &str) -> Value {
        let (_, doc) = all().into_iter().find(|(_, d)| d["spec"]["names"]["kind"] == kind).expect("our kind");
        doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    fn failures(kind: &str, spec: &Value) -> Vec<String> {
        let mut out = Vec::new();
        cel_failures(&spec_schema(kind), spec, "spec", &mut out);
        out
    }

    /// The CRDs' CEL rules compile, hold for every object of ours in `examples/`, and refuse
    /// what Sluice's own reading refuses (each case below fails exactly its rule). The rules
    /// are run by the `cel` crate, the CEL implementation Sluice's authorization uses; the API
    /// server runs them with cel-go.
    #[test]
    fn cel_rules_hold_for_the_examples_and_refuse_bad_specs() {
        // The API server refuses a CRD whose rules' estimated cost is unbounded: a rule that
        // iterates a list needs the list's maxItems.
        fn walk(v: &Value, n: &mut usize, unbounded: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Array(r)) = m.get("x-kubernetes-validations") {
                        *n += r.len();
                        for rule in r.iter().filter_map(|r| r["rule"].as_str()) {
                            if rule.starts_with("self.all(") && !m.contains_key("maxItems") {
                                unbounded.push(rule.to_string());
                            }
                        }
                    }
                    m.values().for_each(|c| walk(c, n, unbounded));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, n, unbounded)),
                _ => {}
            }
        }
        let (mut rules, mut unbounded) = (0, Vec::new());
        for (_, doc) in all() {
            walk(&doc, &mut rules, &mut unbounded);
        }
        assert!(rules >= 14, "{rules} rules");
        assert!(unbounded.is_empty(), "rules over lists without maxItems: {unbounded:?}");

        let mut checked = 0;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in std::fs::read_dir(&dir).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("example");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
            for d in docs.iter().filter(|d| d["apiVersion"] == "sluice.dev/v1alpha1") {
                let kind = d["kind"].as_str().unwrap_or_default();
                assert_eq!(failures(kind, &d["spec"]), Vec::<String>::new(), "{} {kind}", path.display());
                checked += 1;
            }
        }
        assert!(checked >= 4, "{checked} objects of ours in examples/");

        let policy = |extra: Value| {
            let mut spec =
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}]});
            if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
                s.extend(e);
            }
            spec
        };
        let mcp = |targets: Value| json!({"targets": targets});
        let cases: Vec<(&str, Value, &str)> = vec![
            ("TrafficPolicy", policy(json!({})), ""),
            (
                "TrafficPolicy",
                policy(json!({"targetRefs": [{"group": "", "kind": "Service", "name": "s"}]})),
                "a target is",
            ),
            (
                "TrafficPolicy",
                policy(
                    json!({"targetRefs": [{"group": "sluice.dev", "kind": "AIBackend", "name": "a", "sectionName": "x"}]}),
                ),
                "a target is",
            ),
            (
                "TrafficPolicy",
                policy(json!({"targetRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g", "sectionName": "http"},
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g", "sectionName": "http"}]})),
                "named once",
            ),
            (
                "TrafficPolicy",
                policy(json!({"targetRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g", "sectionName": "http"},
                    {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}]})),
                "",
            ),
            ("TrafficPolicy", policy(json!({"rateLimits": [{"name": "a", "requests": 5, "per": "minute"}]})), ""),
            (
                "TrafficPolicy",
                policy(json!({"rateLimits": [{"name": "a", "per": "minute"}]})),
                "exactly one of requests",
            ),
            (
                "TrafficPolicy",
                policy(json!({"rateLimits": [{"name": "a", "requests": 1, "tokens": 5, "per": "minute"}]})),
                "exactly one of requests",
            ),
            (
                "TrafficPolicy",
                policy(json!({"rateLimits": [{"name": "a", "requests": 1, "count": "input", "per": "minute"}]})),
                "count is for token limits",
            ),
            (
                "TrafficPolicy",
                policy(json!({"rateLimits": [{"name": "a", "tokens": 9, "redisTimeout": "1s", "per": "minute"}]})),
                "for global limits only",
            ),
            (
                "TrafficPolicy",
                policy(
                    json!({"rateLimits": [{"name": "a", "tokens": 9, "global": true, "onRedisFailure": "open", "per": "minute"}]}),
                ),
                "",
            ),
            (
                "TrafficPolicy",
                policy(
                    json!({"rateLimits": [{"name": "a", "requests": 1, "per": "minute"}, {"name": "a", "tokens": 1, "per": "day"}]}),
                ),
                "names are unique",
            ),
            ("TrafficPolicy", policy(json!({"budgets": [{"name": "b", "usd": 5, "softUsd": 4, "per": "day"}]})), ""),
            (
                "TrafficPolicy",
                policy(json!({"budgets": [{"name": "b", "usd": 5, "softUsd": 6, "per": "day"}]})),
                "softUsd between",
            ),
            (
                "TrafficPolicy",
                policy(json!({"budgets": [{"name": "b", "usd": 0, "per": "day"}]})),
                "usd must be above 0",
            ),
            (
                "TrafficPolicy",
                policy(json!({"guards": [{"name": "g", "detect": ["email"], "scope": ["prompt"]}]})),
                "a scope is",
            ),
            (
                "TrafficPolicy",
                policy(json!({"shaping": {"prepend": [{"role": "assistant", "content": "x"}]}})),
                "role is system or user",
            ),
            ("MCPBackend", mcp(json!([{"name": "a", "stdio": {"command": "x"}}])), ""),
            ("MCPBackend", mcp(json!([{"name": "a"}])), "exactly one of stdio"),
            (
                "MCPBackend",
                mcp(json!([{"name": "a", "stdio": {"command": "x"}, "sse": {"url": "http://127.0.0.1:1/sse"}}])),
                "exactly one of stdio",
            ),
            (
                "MCPBackend",
                mcp(json!([{"name": "a", "stdio": {"command": "x"}}, {"name": "a", "stdio": {"command": "y"}}])),
                "target names are unique",
            ),
            ("AIBackend", json!({"provider": {"type": "openai", "baseURL": "ftp://x"}}), "baseURL starts with"),
            ("AIBackend", json!({"passthrough": [{"pathPrefix": "v1/files"}]}), "pathPrefix starts with /"),
        ];
        for (kind, spec, expected) in cases {
            let f = failures(kind, &spec);
            if expected.is_empty() {
                assert!(f.is_empty(), "{kind} {spec}: {f:?}");
            } else {
                assert!(f.len() == 1 && f[0].contains(expected), "{kind} {spec}: expected {expected:?}, got {f:?}");
            }
        }
    }
}
