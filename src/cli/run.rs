//! `sluice run`: serve, and reload on change: of the manifest files (standalone mode), or of
//! the cluster's objects (`--kubernetes`). A configuration of files that fails to load never
//! replaces the one being served; in a cluster, an object that cannot be read is left out.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use sluice::config;
use sluice::runtime::{BindMode, Runtime};

/// Bounds set on the command line.
pub struct Bounds {
    /// Connections open at once per listening port.
    pub max_connections: usize,
    /// How long a proxied answer's body may send nothing (`None`: never).
    pub body_idle: Option<std::time::Duration>,
    /// How long a stop waits for requests and streams in flight.
    pub drain: std::time::Duration,
    /// How long stored Responses are kept, and how many bytes of them in the state file.
    pub responses: sluice::store::documents::Bounds,
    /// Where traces go (an OTLP/HTTP URL) and the share of new traces sampled.
    pub traces: Option<(String, f64)>,
}

/// Where the configuration comes from.
pub enum Source {
    Files(Vec<PathBuf>),
    Kubernetes(sluice::k8s::Options),
}

/// What announces changes of the configuration.
enum Feed {
    Files {
        paths: Vec<PathBuf>,
        _watcher: notify::RecommendedWatcher,
        changes: tokio::sync::mpsc::Receiver<()>,
    },
    Cluster {
        updates: tokio::sync::mpsc::Receiver<sluice::k8s::Update>,
        status: sluice::k8s::StatusWriter,
        /// Whether this replica holds the Lease (only the holder writes status).
        leader: tokio::sync::watch::Receiver<bool>,
        /// The objects the last update left out.
        last_unreadable: Vec<sluice::k8s::Unreadable>,
        /// Whether the election still runs.
        electing: bool,
    },
}

/// Writes the snapshot's statuses (and those of the objects that could not be read) to the
/// cluster, within [`STATUS_DEADLINE`].
async fn write_status(
    writer: &sluice::k8s::StatusWriter,
    snapshot: &sluice::ir::Snapshot,
    unreadable: &[sluice::k8s::Unreadable],
) {
    let statuses = sluice::runtime::cluster_statuses(snapshot, unreadable, writer);
    match tokio::time::timeout(STATUS_DEADLINE, writer.write(&statuses)).await {
        Ok(written) => tracing::debug!(?written, "status written"),
        Err(_) => tracing::warn!("writing status took longer than {STATUS_DEADLINE:?}; the rest waits"),
    }
}

/// The longest a round of status writes may take; what is left is written with the next change.
const STATUS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

impl Feed {
    /// Waits for the next change and applies it; `false` once no change can come.
    async fn next(&mut self, runtime: &Arc<Runtime>) -> bool {
        match self {
            Feed::Files { paths, changes, .. } => {
                if changes.recv().await.is_none() {
                    return false;
                }
                reload(runtime, paths).await;
            }
            Feed::Cluster { updates, status, leader, last_unreadable, electing } => {
                let update = tokio::select! {
                    u = updates.recv() => u,
                    changed = leader.changed(), if *electing => {
                        match changed {
                            // Newly elected: the status of the snapshot being served is written now.
                            Ok(()) if *leader.borrow_and_update() => {
                                write_status(status, &runtime.snapshot(), last_unreadable).await;
                            }
                            Ok(()) => {}
                            // The election ended (it never does unless it failed): nothing more
                            // is asked of it, rather than asking again at once, forever.
                            Err(_) => {
                                tracing::error!("the leader election stopped; this replica no longer writes status");
                                *electing = false;
                            }
                        }
                        return true;
                    }
                };
                let Some(update) = update else { return false };
                for e in &update.errors {
                    tracing::warn!("object left out: {e}");
                }
                let snapshot = runtime.apply(update.resources).await;
                *last_unreadable = update.errors;
                for p in snapshot.status.problems() {
                    tracing::debug!("{p}");
                }
                tracing::debug!(version = snapshot.version, "configuration updated from the cluster");
                // Without a running election this replica cannot know it still holds the Lease.
                if *electing && *leader.borrow() {
                    write_status(status, &snapshot, last_unreadable).await;
                }
            }
        }
        true
    }
}

pub async fn run(
    source: Source,
    admin: SocketAddr,
    bind: IpAddr,
    state_file: PathBuf,
    (redis_url, redis_cluster): (Option<String>, bool),
    bounds: Bounds,
) -> ExitCode {
    // With Redis, budgets and global limits are shared by every replica; without, budgets
    // live in the embedded state file.
    let state = Arc::new(sluice::store::StateFile::new(state_file));
    let shared = redis_url.as_deref().map(|url| {
        let target = sluice::store::redis::Target::parse(url, redis_cluster)?;
        let store = sluice::store::Shared::connect(target.clone(), "sluice:");
        let docs = sluice::store::documents::RedisDocs::new(target.clone(), "sluice:doc:", bounds.responses.ttl);
        Ok::<_, String>((sluice::policy::limits::Limiters::with_redis(target), store, docs))
    });
    type Docs = Arc<dyn sluice::store::documents::Documents>;
    let (store, limits, docs): (Arc<dyn sluice::store::Store>, _, Docs) = match shared.transpose() {
        Ok(Some((limits, store, docs))) => (Arc::new(store), limits, Arc::new(docs)),
        Ok(None) => (
            Arc::new(sluice::store::LazyFile::new(state.clone())),
            Default::default(),
            Arc::new(sluice::store::documents::EmbeddedDocs::new(state.clone(), bounds.responses)),
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    raise_descriptor_limit();
    let runtime = Runtime::with_state(BindMode::Fixed(bind), sluice::policy::PolicyLayer::new(store, limits), docs);
    runtime.set_max_connections(bounds.max_connections);
    runtime.set_body_idle_timeout(bounds.body_idle);
    if let Some((endpoint, ratio)) = &bounds.traces {
        match runtime.trace_to(endpoint, *ratio) {
            Ok(()) => {
                tracing::info!(endpoint = %endpoint, sampling = ratio, "traces are sent over OTLP/HTTP");
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let paths = match &source {
        Source::Files(paths) => paths.clone(),
        Source::Kubernetes(_) => Vec::new(),
    };
    if let Source::Files(paths) = &source {
        let loaded = config::load_paths(paths);
        if !loaded.errors.is_empty() {
            for e in &loaded.errors {
                eprintln!("error: {e}");
            }
            eprintln!("error: the configuration did not load; nothing to serve");
            return ExitCode::FAILURE;
        }
        let snapshot = runtime.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
        for p in snapshot.status.problems() {
            tracing::warn!("{p}");
        }
        for e in runtime.reload_state().bind_errors {
            tracing::error!("{e}");
        }
    }
    match sluice::admin::serve(admin, runtime.clone()).await {
        Ok(addr) => tracing::info!(%addr, "admin plane listening"),
        Err(e) => {
            eprintln!("error: cannot listen on admin address {admin}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut feed = match source {
        Source::Files(_) => match config::watch::watch(&paths) {
            Ok((watcher, changes)) => Feed::Files { paths, _watcher: watcher, changes },
            Err(e) => {
                eprintln!("error: cannot watch the configuration: {e}");
                return ExitCode::FAILURE;
            }
        },
        Source::Kubernetes(options) => match sluice::k8s::client().await {
            Ok(client) => {
                tracing::info!(namespaces = ?options.namespaces, "watching the cluster");
                let (updates, objects) = sluice::k8s::start(client.clone(), &options);
                let identity = sluice::k8s::identity();
                let leader = sluice::k8s::elect(
                    client.clone(),
                    sluice::k8s::LeaseConfig {
                        namespace: options.lease_namespace.clone(),
                        name: "sluice-status-writer".into(),
                        identity: identity.clone(),
                        duration: options.lease_duration,
                    },
                );
                let status =
                    sluice::k8s::StatusWriter::new(client, objects, sluice::ir::status::CONTROLLER_NAME, &identity)
                        .with_service(options.service.clone());
                Feed::Cluster { updates, status, leader, last_unreadable: Vec::new(), electing: true }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    tracing::info!(version = runtime.snapshot().version, "serving");
    loop {
        tokio::select! {
            more = feed.next(&runtime) => {
                if !more {
                    break;
                }
            }
            signal = stop_signal() => {
                tracing::info!(signal, "stopping: draining connections for up to {:?}", bounds.drain);
                break;
            }
        }
    }
    let left = runtime.drain(bounds.drain).await;
    if left > 0 {
        tracing::warn!(connections = left, "the drain deadline passed with connections still open");
    }
    runtime.stop_pipelines().await;
    runtime.flush_traces();
    ExitCode::SUCCESS
}

/// Every connection costs a descriptor, and many systems start processes with a soft limit of
/// 1024: the soft limit is raised to the hard one (as nginx's `worker_rlimit_nofile` or Go's
/// runtime do), and a limit below the connection caps is worth a warning.
fn raise_descriptor_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the descriptor limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    tracing::info!(limit = ?now, "open descriptors allowed");
    if now.is_some_and(|n| n < 16_384) {
        tracing::warn!(limit = ?now, "a low descriptor limit: connections beyond it are refused (raise `ulimit -Hn`)");
    }
}

/// SIGTERM (what Kubernetes and systemd send) or SIGINT, whichever comes first.
async fn stop_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

async fn reload(runtime: &Arc<Runtime>, paths: &[PathBuf]) {
    let loaded = config::load_paths(paths);
    if !loaded.errors.is_empty() {
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        for e in &errors {
            tracing::error!("config rejected: {e}");
        }
        runtime.reject(errors);
        return;
    }
    let snapshot = runtime.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    for p in snapshot.status.problems() {
        tracing::warn!("{p}");
    }
    tracing::info!(version = snapshot.version, "configuration reloaded");
}
