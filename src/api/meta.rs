//! Kubernetes object metadata and label selectors (meta/v1), shared by every kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The namespace a namespaced object lives in when its manifest names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `metadata` of any object.
///
/// Unknown fields are rejected: a misspelt `namespace` would otherwise silently move
/// an object to `default`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<Value>,
}

impl ObjectMeta {
    /// The object's name, or `""` when the manifest gives none.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The object's namespace, `default` when the manifest gives none.
    ///
    /// Meaningless for cluster-scoped kinds (GatewayClass, Namespace).
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// `metadata.generation`, 0 when absent (standalone manifests rarely carry one).
    pub fn generation(&self) -> i64 {
        self.generation.unwrap_or(0)
    }
}

/// A label query (meta/v1 `LabelSelector`): all of `matchLabels` and all of
/// `matchExpressions` must hold. An empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry. `operator` is `In`, `NotIn`, `Exists` or `DoesNotExist`;
/// it is kept as a string so that an unknown operator can be reported rather than
/// failing the parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn namespace_defaults() {
        let meta: ObjectMeta = serde_json::from_str(r#"{"name":"a"}"#).unwrap();
        assert_eq!(meta.name(), "a");
        assert_eq!(meta.namespace(), "default");
        let meta: ObjectMeta = serde_json::from_str(r#"{"name":"a","namespace":"ns"}"#).unwrap();
        assert_eq!(meta.namespace(), "ns");
    }

    #[test]
    fn misspelt_namespace_is_an_error() {
        let err = serde_json::from_str::<ObjectMeta>(r#"{"name":"a","namespce":"ns"}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `namespce`"), "{err}");
    }
}
