//! The immutable snapshot every request reads: listeners, compiled route tables and backends,
//! built from typed resources by [`translate`], with the status of every resource.
//!
//! The IR knows neither files nor the Kubernetes API: standalone and Kubernetes modes lower into
//! the same [`Snapshot`], which is swapped atomically as a whole.

pub mod ai;
pub mod backend;
pub mod creds;
pub mod filter;
pub mod hostname;
pub mod mcp;
pub mod policy;
pub mod route;
pub mod status;
pub mod translate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

pub use backend::{Backend, BackendTarget, Endpoint, Upstream, UpstreamProtocol, UpstreamTls};
pub use filter::{Filter, HeaderModifier};
pub use route::{PathMatch, RouteEntry, RouteMatch, RouteRule, RouteTable};
pub use status::StatusReport;

/// A cache the data path fills on first use (connection pools, metric series) and keeps with
/// the snapshot object it belongs to. Not configuration: never serialised, never compared.
pub type RuntimeSlot = std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>;

/// `namespace/name` of a resource: the stable id used across reloads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One listening socket: a Gateway's port. Listeners of a Gateway that share a port share it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BindKey {
    pub gateway: ObjectKey,
    pub port: u16,
}

impl fmt::Display for BindKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.gateway, self.port)
    }
}

/// Everything the data path needs, immutable once built.
#[derive(Debug, Default, Serialize)]
pub struct Snapshot {
    /// Increases by one with every accepted configuration.
    pub version: u64,
    #[serde(serialize_with = "ser_ports")]
    pub ports: BTreeMap<BindKey, Arc<Port>>,
    #[serde(skip)]
    pub status: StatusReport,
}

fn ser_ports<S: serde::Serializer>(p: &BTreeMap<BindKey, Arc<Port>>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.values())
}

impl Snapshot {
    pub fn port(&self, key: &BindKey) -> Option<&Arc<Port>> {
        self.ports.get(key)
    }
}

/// What a bound socket serves.
#[derive(Debug, Serialize)]
pub struct Port {
    pub key: BindKey,
    /// The IP address the Gateway asked for (`spec.addresses`), if any.
    pub address: Option<std::net::IpAddr>,
    pub protocol: PortProtocol,
    /// Listeners sharing the port, most specific hostname first.
    pub listeners: Vec<Arc<Listener>>,
    /// Bounds on its client connections (the Gateway's TrafficPolicy `connections`).
    pub connections: Arc<policy::ConnectionsIr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PortProtocol {
    Http,
    Https,
    /// TLS passthrough: routed by SNI to TLSRoute backends, never decrypted.
    TlsPassthrough,
}

/// One programmed Gateway listener.
#[derive(Debug, Serialize)]
pub struct Listener {
    pub name: String,
    /// The Gateway's `namespace/name`, for metrics.
    pub gateway: Arc<str>,
    /// The listener's request counters (runtime state, cached here).
    #[serde(skip)]
    pub metrics: RuntimeSlot,
    pub hostname: Option<String>,
    pub protocol: PortProtocol,
    #[serde(skip)]
    pub tls: Option<Arc<ListenerTls>>,
    pub routes: RouteTable,
    /// TLSRoutes of a passthrough listener, most specific hostname first.
    pub passthrough: Vec<PassthroughRoute>,
}

/// A TLSRoute rule programmed on a passthrough listener.
#[derive(Debug, Serialize)]
pub struct PassthroughRoute {
    /// The SNI names it takes (`None`: any the listener takes).
    pub hostname: Option<String>,
    /// Metric label and log name: `namespace/name/rule`.
    pub label: Arc<str>,
    pub backends: Vec<Backend>,
}

/// A listener's TLS settings (certificate, ALPN, client validation), ready for rustls.
pub struct ListenerTls {
    pub server_config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerTls").field("certificate", &"<redacted>").finish()
    }
}

impl Listener {
    /// Whether `host` (without port) falls under this listener's hostname.
    pub fn matches_host(&self, host: &str) -> bool {
        match &self.hostname {
            None => true,
            Some(pattern) => hostname::matches(pattern, host),
        }
    }
}

impl Port {
    /// The listener that serves `host`: an exact hostname first, then the longest wildcard, then
    /// a listener without hostname.
    pub fn listener_for(&self, host: &str) -> Option<&Arc<Listener>> {
        self.listeners.iter().find(|l| l.matches_host(host))
    }
}

impl Listener {
    /// The TLSRoute that takes a connection with this SNI.
    pub fn passthrough_for(&self, sni: &str) -> Option<&PassthroughRoute> {
        self.passthrough.iter().find(|r| r.hostname.as_deref().is_none_or(|h| hostname::matches(h, sni)))
    }
}
