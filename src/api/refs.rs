//! Object references shared by several Gateway API kinds.
//!
//! `group` and `kind` stay strings everywhere: a reference to a kind we do not
//! support must parse, so that it can be reported in status (`InvalidKind`).

use serde::{Deserialize, Serialize};

/// The API group of the Gateway API kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The core API group is the empty string.
pub const CORE_GROUP: &str = "";

/// A TCP/UDP port number as Gateway API writes it (int32 in 1..=65535).
pub type PortNumber = u16;

/// A reference from a route to the Gateway (or other parent) it attaches to.
/// Absent `group`/`kind` default to `gateway.networking.k8s.io`/`Gateway`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParentReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortNumber>,
}

impl ParentReference {
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(GATEWAY_GROUP)
    }

    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Gateway")
    }
}

/// A reference to a backend (by default a core `Service`), as used by request
/// mirroring and external auth. Route backends use [`crate::api::HttpBackendRef`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortNumber>,
}

impl BackendObjectReference {
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(CORE_GROUP)
    }

    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Service")
    }
}

/// A reference to a Secret (by default) holding a certificate and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl SecretObjectReference {
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(CORE_GROUP)
    }

    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Secret")
    }
}

/// A reference with explicit group and kind, possibly in another namespace
/// (e.g. a CA bundle ConfigMap for frontend client-certificate validation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectReference {
    pub group: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference with explicit group and kind to an object in the referrer's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectReference {
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// Whether a Gateway takes routes that name no parent (`spec.defaultScope` on a
/// Gateway, `spec.useDefaultGateways` on a route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayDefaultScope {
    All,
    None,
}
