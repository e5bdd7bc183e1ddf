//! Resolved backends: where a rule's traffic goes and how to talk to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::filter::Filter;

/// One weighted backendRef of a rule.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// Metric label and log name: `namespace/name:port`.
    pub name: Arc<str>,
    pub weight: u32,
    pub target: BackendTarget,
    /// Filters of the backendRef itself (header modifiers).
    pub filters: Vec<Filter>,
    /// The metric series of this (rule, backend).
    #[serde(skip)]
    pub metrics: super::RuntimeSlot,
}

#[derive(Debug, Clone, Serialize)]
pub enum BackendTarget {
    Upstream(Arc<Upstream>),
    /// An AIBackend: the AI path parses the request and picks the provider.
    Ai(Arc<super::ai::AiBackendIr>),
    /// An MCPBackend: the MCP path federates its targets.
    Mcp(Arc<super::mcp::McpBackendIr>),
    /// A backendRef that did not resolve: its share of requests is answered with 500.
    Invalid {
        reason: String,
    },
}

/// A resolved set of endpoints speaking one protocol.
#[derive(Debug, Serialize)]
pub struct Upstream {
    /// Stable across reloads; keys the connection pool.
    pub pool_key: String,
    pub endpoints: Vec<Endpoint>,
    pub protocol: UpstreamProtocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Arc<UpstreamTls>>,
    #[serde(skip)]
    next: AtomicUsize,
    /// Connection pools of the endpoints, in endpoint order.
    #[serde(skip)]
    pub pools: super::RuntimeSlot,
}

impl Upstream {
    pub fn new(
        pool_key: String,
        endpoints: Vec<Endpoint>,
        protocol: UpstreamProtocol,
        tls: Option<Arc<UpstreamTls>>,
    ) -> Self {
        Self { pool_key, endpoints, protocol, tls, next: AtomicUsize::new(0), pools: Default::default() }
    }

    /// The next endpoint, round robin.
    pub fn pick(&self) -> Option<&Endpoint> {
        self.pick_index().and_then(|i| self.endpoints.get(i))
    }

    /// The index of the next endpoint, round robin.
    pub fn pick_index(&self) -> Option<usize> {
        match self.endpoints.len() {
            0 => None,
            1 => Some(0),
            n => Some(self.next.fetch_add(1, Ordering::Relaxed) % n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Endpoint {
    Addr(SocketAddr),
    /// An ExternalName Service: resolved when connecting.
    Dns {
        host: String,
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Addr(a) => write!(f, "{a}"),
            Endpoint::Dns { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UpstreamProtocol {
    /// HTTP/1.1, or h2 when TLS negotiates it. No upgrade is forwarded: a client's `Upgrade`
    /// header is dropped and the request goes as a plain one.
    Http1,
    /// HTTP/1.1 that takes WebSocket upgrades (`appProtocol: kubernetes.io/ws` or
    /// `kubernetes.io/wss`); no other upgrade (`h2c`, …) is forwarded.
    WebSocket,
    /// Cleartext HTTP/2 with prior knowledge (`appProtocol: kubernetes.io/h2c`).
    H2c,
}

/// TLS towards a backend, from a BackendTLSPolicy.
pub struct UpstreamTls {
    pub server_name: rustls_pki_types::ServerName<'static>,
    pub config: Arc<rustls::ClientConfig>,
    /// Identifies the TLS settings within the pool key.
    pub fingerprint: String,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").field("server_name", &self.server_name).finish()
    }
}

impl Serialize for UpstreamTls {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:?}", self.server_name))
    }
}
