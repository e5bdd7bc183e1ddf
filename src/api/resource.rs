//! [`Resource`]: any object Sluice reads, and turning a parsed document into one.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::aibackend::AiBackend;
use super::backendtls::BackendTlsPolicy;
use super::core::{ConfigMap, EndpointSlice, Namespace, Secret, Service};
use super::gateway::Gateway;
use super::gatewayclass::GatewayClass;
use super::httproute::HttpRoute;
use super::mcpbackend::McpBackend;
use super::meta::ObjectMeta;
use super::referencegrant::ReferenceGrant;
use super::tlsroute::TlsRoute;
use super::trafficpolicy::TrafficPolicy;

/// The kinds Sluice understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    GatewayClass,
    Gateway,
    HttpRoute,
    TlsRoute,
    ReferenceGrant,
    BackendTlsPolicy,
    Namespace,
    Service,
    Secret,
    ConfigMap,
    EndpointSlice,
    AiBackend,
    McpBackend,
    TrafficPolicy,
}

const GATEWAY_V1_V1BETA1: &[&str] = &["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"];
const TLSROUTE_VERSIONS: &[&str] =
    &["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha3", "gateway.networking.k8s.io/v1alpha2"];
const GATEWAY_V1_V1ALPHA3: &[&str] = &["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha3"];
const CORE_V1: &[&str] = &["v1"];
const DISCOVERY_V1: &[&str] = &["discovery.k8s.io/v1"];
const SLUICE_V1ALPHA1: &[&str] = &["sluice.dev/v1alpha1"];

impl ResourceKind {
    pub const ALL: [ResourceKind; 14] = [
        ResourceKind::GatewayClass,
        ResourceKind::Gateway,
        ResourceKind::HttpRoute,
        ResourceKind::TlsRoute,
        ResourceKind::ReferenceGrant,
        ResourceKind::BackendTlsPolicy,
        ResourceKind::Namespace,
        ResourceKind::Service,
        ResourceKind::Secret,
        ResourceKind::ConfigMap,
        ResourceKind::EndpointSlice,
        ResourceKind::AiBackend,
        ResourceKind::McpBackend,
        ResourceKind::TrafficPolicy,
    ];

    /// The `kind` as manifests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::GatewayClass => "GatewayClass",
            ResourceKind::Gateway => "Gateway",
            ResourceKind::HttpRoute => "HTTPRoute",
            ResourceKind::TlsRoute => "TLSRoute",
            ResourceKind::ReferenceGrant => "ReferenceGrant",
            ResourceKind::BackendTlsPolicy => "BackendTLSPolicy",
            ResourceKind::Namespace => "Namespace",
            ResourceKind::Service => "Service",
            ResourceKind::Secret => "Secret",
            ResourceKind::ConfigMap => "ConfigMap",
            ResourceKind::EndpointSlice => "EndpointSlice",
            ResourceKind::AiBackend => "AIBackend",
            ResourceKind::McpBackend => "MCPBackend",
            ResourceKind::TrafficPolicy => "TrafficPolicy",
        }
    }

    /// The apiVersions accepted for this kind.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::GatewayClass
            | ResourceKind::Gateway
            | ResourceKind::HttpRoute
            | ResourceKind::ReferenceGrant => GATEWAY_V1_V1BETA1,
            ResourceKind::BackendTlsPolicy => GATEWAY_V1_V1ALPHA3,
            ResourceKind::TlsRoute => TLSROUTE_VERSIONS,
            ResourceKind::Namespace | ResourceKind::Service | ResourceKind::Secret | ResourceKind::ConfigMap => CORE_V1,
            ResourceKind::EndpointSlice => DISCOVERY_V1,
            ResourceKind::AiBackend | ResourceKind::McpBackend | ResourceKind::TrafficPolicy => SLUICE_V1ALPHA1,
        }
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        let version = self.api_versions()[0];
        version.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(self, ResourceKind::GatewayClass | ResourceKind::Namespace)
    }

    /// The kind spelt `kind` (exact, case-sensitive), if we support it.
    pub fn from_kind(kind: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of an object: kind, namespace (`None` for cluster-scoped kinds; the
/// `default` namespace when a namespaced object gives none) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    pub kind: ResourceKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Any object Sluice reads. Serializes as the object itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    GatewayClass(GatewayClass),
    Gateway(Gateway),
    HttpRoute(HttpRoute),
    TlsRoute(TlsRoute),
    ReferenceGrant(ReferenceGrant),
    BackendTlsPolicy(BackendTlsPolicy),
    Namespace(Namespace),
    Service(Service),
    Secret(Secret),
    ConfigMap(ConfigMap),
    EndpointSlice(EndpointSlice),
    AiBackend(AiBackend),
    McpBackend(McpBackend),
    TrafficPolicy(Box<TrafficPolicy>),
}

impl Resource {
    pub fn resource_kind(&self) -> ResourceKind {
        match self {
            Resource::GatewayClass(_) => ResourceKind::GatewayClass,
            Resource::Gateway(_) => ResourceKind::Gateway,
            Resource::HttpRoute(_) => ResourceKind::HttpRoute,
            Resource::TlsRoute(_) => ResourceKind::TlsRoute,
            Resource::ReferenceGrant(_) => ResourceKind::ReferenceGrant,
            Resource::BackendTlsPolicy(_) => ResourceKind::BackendTlsPolicy,
            Resource::Namespace(_) => ResourceKind::Namespace,
            Resource::Service(_) => ResourceKind::Service,
            Resource::Secret(_) => ResourceKind::Secret,
            Resource::ConfigMap(_) => ResourceKind::ConfigMap,
            Resource::EndpointSlice(_) => ResourceKind::EndpointSlice,
            Resource::AiBackend(_) => ResourceKind::AiBackend,
            Resource::McpBackend(_) => ResourceKind::McpBackend,
            Resource::TrafficPolicy(_) => ResourceKind::TrafficPolicy,
        }
    }

    /// The `kind` as manifests spell it (`HTTPRoute`, `BackendTLSPolicy`, ...).
    pub fn kind(&self) -> &'static str {
        self.resource_kind().as_str()
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Resource::GatewayClass(r) => &r.metadata,
            Resource::Gateway(r) => &r.metadata,
            Resource::HttpRoute(r) => &r.metadata,
            Resource::TlsRoute(r) => &r.metadata,
            Resource::ReferenceGrant(r) => &r.metadata,
            Resource::BackendTlsPolicy(r) => &r.metadata,
            Resource::Namespace(r) => &r.metadata,
            Resource::Service(r) => &r.metadata,
            Resource::Secret(r) => &r.metadata,
            Resource::ConfigMap(r) => &r.metadata,
            Resource::EndpointSlice(r) => &r.metadata,
            Resource::AiBackend(r) => &r.metadata,
            Resource::McpBackend(r) => &r.metadata,
            Resource::TrafficPolicy(r) => &r.metadata,
        }
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Resource::GatewayClass(r) => &mut r.metadata,
            Resource::Gateway(r) => &mut r.metadata,
            Resource::HttpRoute(r) => &mut r.metadata,
            Resource::TlsRoute(r) => &mut r.metadata,
            Resource::ReferenceGrant(r) => &mut r.metadata,
            Resource::BackendTlsPolicy(r) => &mut r.metadata,
            Resource::Namespace(r) => &mut r.metadata,
            Resource::Service(r) => &mut r.metadata,
            Resource::Secret(r) => &mut r.metadata,
            Resource::ConfigMap(r) => &mut r.metadata,
            Resource::EndpointSlice(r) => &mut r.metadata,
            Resource::AiBackend(r) => &mut r.metadata,
            Resource::McpBackend(r) => &mut r.metadata,
            Resource::TrafficPolicy(r) => &mut r.metadata,
        }
    }

    /// Kind, namespace and name; two objects with the same key are the same object.
    pub fn key(&self) -> ResourceKey {
        let kind = self.resource_kind();
        let meta = self.meta();
        ResourceKey {
            kind,
            namespace: kind.is_namespaced().then(|| meta.namespace().to_owned()),
            name: meta.name().to_owned(),
        }
    }

    /// Reads a parsed manifest: checks `apiVersion` and `kind`, then deserializes the
    /// matching type. Null values inside mappings count as absent, as the API
    /// server treats them.
    pub fn from_value(mut value: Value) -> Result<Resource, ResourceError> {
        let Value::Object(object) = &mut value else {
            return Err(ResourceError::new(None, ResourceErrorReason::NotAMapping { found: json_type(&value) }));
        };
        prune_nulls(object);
        let label = ObjectLabel::read(object);
        let api_version = type_field(object, "apiVersion", &label)?;
        let kind_name = type_field(object, "kind", &label)?;
        let Some(kind) = ResourceKind::from_kind(&kind_name) else {
            return Err(ResourceError::new(
                Some(label.render(&kind_name)),
                ResourceErrorReason::UnsupportedKind { api_version, kind: kind_name },
            ));
        };
        let resource_label = label.render(kind.as_str());
        if !kind.api_versions().contains(&api_version.as_str()) {
            return Err(ResourceError::new(
                Some(resource_label),
                ResourceErrorReason::UnsupportedApiVersion { kind, api_version },
            ));
        }
        let resource = match kind {
            ResourceKind::GatewayClass => Resource::GatewayClass(typed(value, &resource_label)?),
            ResourceKind::Gateway => Resource::Gateway(typed(value, &resource_label)?),
            ResourceKind::HttpRoute => Resource::HttpRoute(typed(value, &resource_label)?),
            ResourceKind::TlsRoute => Resource::TlsRoute(typed(value, &resource_label)?),
            ResourceKind::ReferenceGrant => Resource::ReferenceGrant(typed(value, &resource_label)?),
            ResourceKind::BackendTlsPolicy => Resource::BackendTlsPolicy(typed(value, &resource_label)?),
            ResourceKind::Namespace => Resource::Namespace(typed(value, &resource_label)?),
            ResourceKind::Service => Resource::Service(typed(value, &resource_label)?),
            ResourceKind::Secret => Resource::Secret(typed(value, &resource_label)?),
            ResourceKind::ConfigMap => Resource::ConfigMap(typed(value, &resource_label)?),
            ResourceKind::EndpointSlice => Resource::EndpointSlice(typed(value, &resource_label)?),
            ResourceKind::AiBackend => Resource::AiBackend(typed(value, &resource_label)?),
            ResourceKind::McpBackend => Resource::McpBackend(typed(value, &resource_label)?),
            ResourceKind::TrafficPolicy => Resource::TrafficPolicy(typed(value, &resource_label)?),
        };
        if resource.meta().name().is_empty() {
            return Err(ResourceError::new(
                Some(resource_label),
                ResourceErrorReason::Invalid {
                    path: "metadata.name".to_owned(),
                    message: "a name is required".to_owned(),
                },
            ));
        }
        Ok(resource)
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Resource::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Why a document is not a usable resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ResourceError {
    /// The object, as far as it could be identified: `HTTPRoute ns/name`.
    pub resource: Option<String>,
    pub reason: ResourceErrorReason,
}

impl ResourceError {
    fn new(resource: Option<String>, reason: ResourceErrorReason) -> ResourceError {
        ResourceError { resource, reason }
    }

    fn render(&self) -> String {
        match &self.resource {
            Some(resource) => format!("{resource}: {}", self.reason),
            None => self.reason.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceErrorReason {
    #[error("expected a mapping with apiVersion and kind, found {found}")]
    NotAMapping { found: &'static str },
    #[error("`{field}` is missing or not a string")]
    MissingTypeField { field: &'static str },
    #[error("unsupported kind `{kind}` (apiVersion `{api_version}`); supported kinds: {}", supported_kinds())]
    UnsupportedKind { api_version: String, kind: String },
    #[error(
        "unsupported apiVersion `{api_version}` for {kind}; use {}",
        kind.api_versions().join(" or ")
    )]
    UnsupportedApiVersion { kind: ResourceKind, api_version: String },
    /// A field is wrong: `path` is where (`spec.rules[0].matches[0].path`, or `.`
    /// for the top level), `message` what.
    #[error("{}", render_invalid(path, message))]
    Invalid { path: String, message: String },
}

fn render_invalid(path: &str, message: &str) -> String {
    if path == "." || path.is_empty() { message.to_owned() } else { format!("{path}: {message}") }
}

fn supported_kinds() -> String {
    ResourceKind::ALL
        .iter()
        .map(|k| format!("{} ({})", k.as_str(), k.api_versions().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn typed<T: DeserializeOwned>(value: Value, label: &str) -> Result<T, ResourceError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let message = err.inner().to_string();
        ResourceError::new(
            Some(label.to_owned()),
            ResourceErrorReason::Invalid { path: render_path(err.path(), &message), message },
        )
    })
}

/// Renders a path like `spec.rules[0].matches[0].path`. For an unknown field the
/// path ends at the mapping that holds it (the message names the field).
fn render_path(path: &serde_path_to_error::Path, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    if let Some(Segment::Map { key }) = segments.last()
        && message.starts_with(&format!("unknown field `{key}`"))
    {
        segments.pop();
    }
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
}

fn type_field(object: &Map<String, Value>, field: &'static str, label: &ObjectLabel) -> Result<String, ResourceError> {
    match object.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("object");
            Err(ResourceError::new(Some(label.render(kind)), ResourceErrorReason::MissingTypeField { field }))
        }
    }
}

/// Namespace and name read leniently from `metadata`, to name an object in errors
/// before it has been deserialized.
struct ObjectLabel {
    namespace: Option<String>,
    name: Option<String>,
}

impl ObjectLabel {
    fn read(object: &Map<String, Value>) -> ObjectLabel {
        let meta = object.get("metadata");
        let field = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned);
        ObjectLabel { namespace: field("namespace"), name: field("name") }
    }

    fn render(&self, kind: &str) -> String {
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
            (None, Some(name)) => format!("{kind} {name}"),
            _ => kind.to_owned(),
        }
    }
}

fn prune_nulls(object: &mut Map<String, Value>) {
    object.retain(|_, v| !v.is_null());
    for v in object.values_mut() {
        prune_nulls_in(v);
    }
}

fn prune_nulls_in(value: &mut Value) {
    match value {
        Value::Object(object) => prune_nulls(object),
        Value::Array(items) => items.iter_mut().for_each(prune_nulls_in),
        _ => {}
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "an empty document",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}
