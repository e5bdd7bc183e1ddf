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
}
