//! The running gateway: holds the current snapshot, binds the sockets it needs, and swaps in
//! new configurations atomically. State that must outlive a reload (sockets, connection pools,
//! metrics, generations) lives here, outside the snapshot.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ai::AiPipeline;
use crate::api::Resource;
use crate::ir::status::now_rfc3339;
use crate::ir::translate::{self, Context};
use crate::ir::{BindKey, PortProtocol, Snapshot};
use crate::mcp::{McpPipeline, McpState};
use crate::metrics::Metrics;
use crate::policy::PolicyLayer;
use crate::proxy::pipeline::Pipelines;
use crate::proxy::upstream::Pools;
use crate::proxy::{Shared, listener};

mod cluster_status;
mod generations;

pub use cluster_status::cluster_statuses;
pub use generations::Generations;

/// How listener sockets are bound.
#[derive(Debug, Clone, Copy)]
pub enum BindMode {
    /// Each listener on `ip:port` as configured (the Gateway's own address when it asks for one).
    Fixed(IpAddr),
    /// Each (Gateway, port) on `ip:0`: an ephemeral port, looked up with
    /// [`Runtime::listener_addr`]. For tests, where many Gateways share port 80.
    Ephemeral(IpAddr),
}

impl BindMode {
    fn ip(self) -> IpAddr {
        match self {
            BindMode::Fixed(ip) | BindMode::Ephemeral(ip) => ip,
        }
    }
}

struct Bound {
    addr: SocketAddr,
    protocol: PortProtocol,
    task: JoinHandle<()>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The outcome of the last configuration attempt, shown on `/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadState {
    pub version: u64,
    pub last_attempt_ok: bool,
    pub last_errors: Vec<String>,
    pub bind_errors: Vec<String>,
}

pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
    /// The MCP pipeline's state (its sessions, for the metrics).
    mcp: Arc<McpState>,
    mode: BindMode,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    binds: HashMap<BindKey, Bound>,
    generations: Generations,
    reload: ReloadState,
}

impl Runtime {
    /// A runtime whose budget spend is kept in memory.
    pub fn new(mode: BindMode) -> Arc<Self> {
        Runtime::with_store(mode, Arc::new(crate::store::Memory::default()))
    }

    /// A runtime whose budget spend is kept in `store` (the embedded file of `sluice run`).
    pub fn with_store(mode: BindMode, store: Arc<dyn crate::store::Store>) -> Arc<Self> {
        Runtime::with_policy(mode, PolicyLayer::with_store(store))
    }

    /// A runtime with its policy layer's state (store of spend, Redis for global limits).
    pub fn with_policy(mode: BindMode, policy: PolicyLayer) -> Arc<Self> {
        Runtime::with_state(mode, policy, Arc::new(crate::store::documents::MemoryDocs::default()))
    }

    /// A runtime whose stored Responses are kept in `responses`.
    pub fn with_state(
        mode: BindMode,
        policy: PolicyLayer,
        responses: Arc<dyn crate::store::documents::Documents>,
    ) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        let pools = Arc::new(Pools::with_metrics(metrics.clone()));
        let policy = Arc::new(policy);
        let mcp = Arc::new(McpState { metrics: metrics.clone(), ..McpState::default() });
        let pipelines = Pipelines {
            ai: Arc::new(AiPipeline::new(pools.clone(), metrics.clone(), policy.clone(), responses)),
            mcp: Arc::new(McpPipeline { state: mcp.clone(), policy: policy.clone() }),
        };
        let shared = Arc::new(Shared {
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            pools,
            metrics,
            pipelines,
            policy,
            drain: Default::default(),
            body_idle_ms: (crate::proxy::handler::BODY_IDLE.as_millis() as u64).into(),
        });
        Arc::new(Self { shared, mcp, mode, state: Mutex::new(State::default()) })
    }

    /// Stops gracefully: listeners stop accepting, open connections finish what is in flight
    /// (HTTP/2 gets GOAWAY) within `deadline`. The connections still open at the deadline.
    pub async fn drain(&self, deadline: std::time::Duration) -> usize {
        self.shared.drain.start();
        self.shared.drain.wait(deadline).await
    }

    /// Ends what the pipelines started, after a drain: MCP stdio targets' processes are told to
    /// exit (standard input closed, then SIGTERM, then SIGKILL) and waited for, 10 s at most.
    pub async fn stop_pipelines(&self) {
        self.shared.pipelines.stop().await;
    }

    /// Most connections open at once on each listening port, for the listeners bound from now
    /// on (`sluice run --max-connections`).
    pub fn set_max_connections(&self, n: usize) {
        self.shared.drain.set_max_connections(n);
    }

    /// How long a proxied answer's body may send nothing before it is given up (`None`: never;
    /// `sluice run --body-idle-timeout`). Applies to requests from now on.
    pub fn set_body_idle_timeout(&self, idle: Option<std::time::Duration>) {
        let ms = idle.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.shared.body_idle_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a graceful stop has begun (then not ready).
    pub fn draining(&self) -> bool {
        self.shared.drain.is_draining()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Turns traces on: spans go to `endpoint` over OTLP/HTTP, new traces sampled at `ratio`
    /// (once; later calls change nothing).
    pub fn trace_to(&self, endpoint: &str, ratio: f64) -> Result<(), String> {
        // The exporter's client is a blocking one (it runs on the batch processor's thread),
        // and is built off the async runtime, as such clients must be.
        let client = std::thread::scope(|s| {
            s.spawn(|| {
                let roots = crate::ir::translate::tls::system_roots();
                let config = crate::ir::translate::tls::client_config(roots, None).map_err(|e| e.to_string())?;
                reqwest::blocking::Client::builder()
                    .no_proxy()
                    .timeout(crate::metrics::trace::EXPORT_TIMEOUT)
                    .tls_backend_preconfigured(config)
                    .build()
                    .map_err(|e| format!("no HTTP client for traces: {e}"))
            })
            .join()
            .unwrap_or_else(|_| Err("the trace client could not be built".into()))
        })?;
        let tracing = crate::metrics::trace::Tracing::otlp(endpoint, ratio, client)?;
        if self.shared.metrics.tracing.set(tracing).is_err() {
            tracing::warn!("traces were already on");
        }
        Ok(())
    }

    /// Sends the spans still waiting (a stop; tests).
    pub fn flush_traces(&self) {
        if let Some(t) = self.shared.metrics.tracing.get() {
            t.flush();
        }
    }

    /// The MCP targets requests have reached, with their state.
    pub fn mcp_targets(&self) -> Vec<crate::mcp::upstream::pool::TargetHealth> {
        self.mcp.pool.health()
    }

    /// The metrics as OpenMetrics text, with the gauges read at scrape time brought up to date.
    pub fn render_metrics(&self) -> String {
        self.shared.metrics.mcp.set_sessions(self.mcp.sessions.open());
        let targets = self.mcp_targets();
        self.shared.metrics.mcp.set_targets(targets.iter().map(|t| (&*t.target, t.state == "up")));
        self.shared.metrics.render()
    }

    /// Every budget counter and its spend, for the admin plane.
    pub fn budgets(&self) -> Vec<crate::policy::budgets::BudgetState> {
        crate::policy::budgets::states(&self.shared.policy.store)
    }

    pub fn reload_state(&self) -> ReloadState {
        self.lock().reload.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket address a Gateway's port is bound on.
    pub fn listener_addr(&self, namespace: &str, name: &str, port: u16) -> Option<SocketAddr> {
        let key = BindKey { gateway: crate::ir::ObjectKey::new(namespace, name), port };
        self.lock().binds.get(&key).map(|b| b.addr)
    }

    /// Records a configuration that could not be loaded: the current one stays.
    pub fn reject(&self, errors: Vec<String>) {
        let mut st = self.lock();
        st.reload.last_attempt_ok = false;
        st.reload.last_errors = errors;
        self.shared.metrics.record_reload(false, st.reload.version);
    }

    /// Translates the resources, binds what the new snapshot needs, and swaps it in.
    /// Requests in flight finish on the snapshot they started with.
    pub async fn apply(&self, mut resources: Vec<Resource>) -> Arc<Snapshot> {
        let (version, ctx) = {
            let mut st = self.lock();
            st.generations.assign(&mut resources);
            let version = st.reload.version + 1;
            let ip = self.mode.ip();
            let ephemeral = matches!(self.mode, BindMode::Ephemeral(_));
            let ctx = Context {
                version,
                now: now_rfc3339(),
                default_address: ip,
                address_usable: Box::new(
                    move |a: IpAddr| {
                        if ephemeral { a.is_loopback() } else { address_is_local(a) }
                    },
                ),
            };
            (version, ctx)
        };
        let snapshot = Arc::new(translate::translate(&resources, &ctx));
        let bind_errors = self.bind(&snapshot).await;
        self.shared.snapshot.store(snapshot.clone());
        self.shared.pipelines.snapshot_changed(&snapshot);
        let mut st = self.lock();
        let keep: Vec<BindKey> = snapshot.ports.keys().cloned().collect();
        st.binds.retain(|k, _| keep.contains(k));
        st.reload = ReloadState { version, last_attempt_ok: true, last_errors: Vec::new(), bind_errors };
        self.shared.metrics.record_reload(true, version);
        snapshot
    }

    /// Opens sockets for new ports; ports that stay keep their socket.
    async fn bind(&self, snapshot: &Snapshot) -> Vec<String> {
        let mut errors = Vec::new();
        let needed: Vec<_> = {
            let st = self.lock();
            snapshot
                .ports
                .values()
                .filter(|p| st.binds.get(&p.key).is_none_or(|b| b.protocol != p.protocol))
                .map(|p| (p.key.clone(), p.address, p.protocol))
                .collect()
        };
        for (key, address, protocol) in needed {
            let ip = address.unwrap_or(self.mode.ip());
            let port = match self.mode {
                BindMode::Fixed(_) => key.port,
                BindMode::Ephemeral(_) => 0,
            };
            match listen(SocketAddr::new(ip, port)) {
                Ok(l) => {
                    let addr = l.local_addr().unwrap_or(SocketAddr::new(ip, port));
                    tracing::info!(gateway = %key.gateway, port = key.port, %addr, "listening");
                    let task = tokio::spawn(listener::run(l, key.clone(), protocol, self.shared.clone()));
                    self.lock().binds.insert(key, Bound { addr, protocol, task });
                }
                Err(e) => {
                    let msg = format!("Gateway {} port {}: cannot listen on {ip}:{port}: {e}", key.gateway, key.port);
                    tracing::error!("{msg}");
                    errors.push(msg);
                }
            }
        }
        errors
    }
}

/// Connections the kernel may queue for a listener before it accepts them: a burst of new
/// connections beyond the queue waits for SYN retransmissions (a second and more). The kernel
/// caps it at `net.core.somaxconn` (4096 on current kernels); nginx asks for 511, std for 128.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Whether an address belongs to this host: binding it on an ephemeral port succeeds.
fn address_is_local(ip: IpAddr) -> bool {
    ip.is_unspecified() || std::net::TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
}
