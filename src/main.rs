//! The `sluice` command line: run, check, version.
#![forbid(unsafe_code)]

mod cli;

/// With `--features mimalloc`: mimalloc instead of the system allocator (bench only, for now).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "sluice",
    about = "An AI- and MCP-first API gateway configured by Kubernetes Gateway API manifests",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once, when the process starts")]
enum Command {
    /// Serve traffic from manifests on disk (or a cluster's objects), reloading them when they
    /// change.
    Run {
        /// Files or folders of YAML manifests (repeatable).
        #[arg(long = "config", short = 'c', required_unless_present = "kubernetes", num_args = 1..)]
        config: Vec<PathBuf>,
        /// Read the configuration from the Kubernetes API server (in-cluster service account,
        /// else KUBECONFIG or ~/.kube/config) instead of files.
        #[arg(long, conflicts_with = "config")]
        kubernetes: bool,
        /// With --kubernetes: watch only these namespaces (repeatable; default: all).
        /// Cluster-scoped kinds are watched whatever this says.
        #[arg(long = "watch-namespace", requires = "kubernetes")]
        watch_namespaces: Vec<String>,
        /// With --kubernetes: a label selector for the Secrets and ConfigMaps watched (default:
        /// all of them in the watched namespaces).
        #[arg(long, requires = "kubernetes")]
        secret_selector: Option<String>,
        /// With --kubernetes: the namespace of the Lease on which replicas elect the one that
        /// writes status (default: POD_NAMESPACE, else `default`).
        #[arg(long, requires = "kubernetes")]
        lease_namespace: Option<String>,
        /// With --kubernetes: how long the Lease holds without renewal: a Gateway API duration.
        #[arg(long, default_value = "15s", value_parser = sluice::ir::translate::duration::parse)]
        lease_duration: std::time::Duration,
        /// With --kubernetes: the Service in front of the replicas (`namespace/name`; default:
        /// `sluice` in POD_NAMESPACE when that is set); Gateways that name no address report its
        /// load balancer's addresses (else its cluster IP).
        #[arg(long, requires = "kubernetes")]
        gateway_service: Option<String>,
        /// Address of the admin plane (health, status, config dump, metrics).
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
        /// Address listeners bind to when a Gateway names none in spec.addresses.
        #[arg(long, default_value = "0.0.0.0")]
        bind: IpAddr,
        /// Worker threads serving traffic (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
        /// Where state that outlives the process (budget spend) is kept: an embedded database
        /// file, created when first needed.
        #[arg(long, default_value = "sluice-state.redb")]
        state_file: PathBuf,
        /// Redis (or Valkey) shared by replicas, for global rate limits and budgets (then kept
        /// there rather than in the state file): `redis://host:port`; with --redis-cluster,
        /// seed nodes of a Redis Cluster, comma-separated.
        #[arg(long)]
        redis_url: Option<String>,
        /// --redis-url names a Redis Cluster (or Valkey cluster).
        #[arg(long)]
        redis_cluster: bool,
        /// Most connections open at once on each listening port; beyond, new connections wait
        /// in the kernel's accept queue until one ends.
        #[arg(long, default_value_t = sluice::proxy::listener::MAX_CONNECTIONS)]
        max_connections: usize,
        /// How long a proxied answer's body may send nothing before it is given up (the client's
        /// answer is cut): a Gateway API duration such as `90s` or `5m`; `0s`: never.
        #[arg(long, default_value = "5m", value_parser = sluice::ir::translate::duration::parse)]
        body_idle_timeout: std::time::Duration,
        /// How long a stop (SIGTERM, SIGINT) waits for requests and streams in flight before
        /// the process exits anyway: a Gateway API duration.
        #[arg(long, default_value = "30s", value_parser = sluice::ir::translate::duration::parse)]
        drain_timeout: std::time::Duration,
        /// How long stored Responses (`store: true`) are kept: a Gateway API duration.
        #[arg(long, default_value = "720h", value_parser = sluice::ir::translate::duration::parse)]
        responses_ttl: std::time::Duration,
        /// Most bytes of stored Responses the state file keeps; the oldest go first (with Redis,
        /// its own maxmemory policy bounds them).
        #[arg(long, default_value_t = 1 << 30)]
        responses_max_bytes: u64,
        /// Send traces over OTLP/HTTP (protobuf) to this URL, such as
        /// `http://127.0.0.1:4318/v1/traces` (default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
        /// unset, no traces).
        #[arg(long)]
        otlp_endpoint: Option<String>,
        /// The share of new traces sampled, 0 to 1 (a client's `traceparent` decides for its
        /// own traces).
        #[arg(long, default_value_t = 1.0)]
        trace_sampling: f64,
    },
    /// Load and translate manifests, print every resource's status, exit 1 on any problem.
    Check {
        #[arg(long = "config", short = 'c', required = true, num_args = 1..)]
        config: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: Output,
    },
    /// Print our CustomResourceDefinitions (AIBackend, MCPBackend, TrafficPolicy) as YAML.
    Crds,
    /// Print the version.
    Version,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            let docs: Vec<String> =
                sluice::api::crds::all().iter().map(|(_, d)| sluice::api::crds::to_yaml(d)).collect();
            print!("{}", docs.join("---\n"));
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check { config, output } => cli::check::run(&config, matches!(output, Output::Json)),
        Command::Run {
            config,
            kubernetes,
            watch_namespaces,
            secret_selector,
            lease_namespace,
            lease_duration,
            gateway_service,
            admin,
            bind,
            workers,
            state_file,
            redis_url,
            redis_cluster,
            max_connections,
            body_idle_timeout,
            drain_timeout,
            responses_ttl,
            responses_max_bytes,
            otlp_endpoint,
            trace_sampling,
        } => {
            cli::init_tracing();
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = workers {
                builder.worker_threads(n.max(1));
            }
            let rt = match builder.enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let bounds = cli::run::Bounds {
                max_connections,
                body_idle: (!body_idle_timeout.is_zero()).then_some(body_idle_timeout),
                drain: drain_timeout,
                responses: sluice::store::documents::Bounds { ttl: responses_ttl, max_bytes: responses_max_bytes },
                traces: otlp_endpoint
                    .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok())
                    .filter(|e| !e.is_empty())
                    .map(|e| (e, trace_sampling)),
            };
            let source = if kubernetes {
                cli::run::Source::Kubernetes(sluice::k8s::Options {
                    namespaces: watch_namespaces,
                    secret_selector,
                    lease_namespace: lease_namespace
                        .or_else(|| std::env::var("POD_NAMESPACE").ok())
                        .unwrap_or_else(|| "default".into()),
                    lease_duration,
                    service: gateway_service
                        .or_else(|| std::env::var("POD_NAMESPACE").ok().map(|ns| format!("{ns}/sluice"))),
                })
            } else {
                cli::run::Source::Files(config)
            };
            rt.block_on(cli::run::run(source, admin, bind, state_file, (redis_url, redis_cluster), bounds))
        }
    }
}
