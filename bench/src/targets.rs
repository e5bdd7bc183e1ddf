//! The systems under test, each configured for the same work: forward every request over a
//! kept-alive HTTP/1.1 connection to the bench upstream, adding `X-Forwarded-For` and
//! `X-Forwarded-Proto`, with one worker (thread) unless stated otherwise.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config_scale;
use crate::procs::{Proc, Spawn, have, thread_names};

/// A running system under test.
pub struct Target {
    pub name: String,
    pub h1_port: u16,
    /// Port that takes h2c with prior knowledge, when the target has one.
    pub h2_port: Option<u16>,
    /// The proxy process; `None` for the direct baseline.
    pub proc: Option<Proc>,
    /// The command line it was started with.
    pub command: String,
    /// Facts worth printing next to its figures.
    pub notes: Vec<String>,
}

impl Target {
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Whether `GET path` on the port answers 200.
pub fn get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Waits until `GET path` through the port answers 200, or the process dies, or `limit` passes.
pub fn wait_ready(proc: &mut Option<Proc>, port: u16, path: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if get_ok(port, path) {
            return Ok(());
        }
        if let Some(p) = proc
            && !p.alive()
        {
            return Err(format!("{} exited during startup", p.name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("port {port} did not answer 200 on {path} within {} s", limit.as_secs()))
}

/// How long a target may take to answer its probe after it was started.
const STARTUP: Duration = Duration::from_secs(15);

/// The suffix of a target started from the `--baseline` binary (a before/after run).
pub const BASELINE: &str = "@base";

/// A target's kind: its name without the [`BASELINE`] suffix.
pub fn kind(name: &str) -> &str {
    name.strip_suffix(BASELINE).unwrap_or(name)
}

fn start(
    name: &str,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cpus: Option<&str>,
    log: &Path,
    ports: (u16, Option<u16>),
    probe: &str,
) -> Result<Target, String> {
    start_within(name, argv, env, cpus, log, ports, probe, STARTUP)
}

#[allow(clippy::too_many_arguments)]
fn start_within(
    name: &str,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cpus: Option<&str>,
    log: &Path,
    ports: (u16, Option<u16>),
    probe: &str,
    limit: Duration,
) -> Result<Target, String> {
    let command = env.iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>()
        + &cpus.map(|c| format!("taskset -c {c} ")).unwrap_or_default()
        + &argv.join(" ");
    let mut proc = Some(Proc::spawn(Spawn { name, argv, cpus, env, log: Some(log) })?);
    wait_ready(&mut proc, ports.0, probe, limit).map_err(|e| {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        format!("{e}\n{}", log.lines().rev().take(20).collect::<Vec<_>>().join("\n"))
    })?;
    // The h2c port (when separate) is bound at the same time as the HTTP/1.1 one.
    Ok(Target { name: name.into(), h1_port: ports.0, h2_port: ports.1, proc, command, notes: Vec::new() })
}

/// The upstream itself, without a proxy.
pub fn direct(upstream_port: u16) -> Target {
    Target {
        name: "direct".into(),
        h1_port: upstream_port,
        h2_port: Some(upstream_port),
        proc: None,
        command: "(load generator straight to bench-upstream)".into(),
        notes: Vec::new(),
    }
}

/// One nginx `location` proxying `prefix` to the upstream as every nginx target does.
pub fn nginx_location(prefix: &str) -> String {
    format!(
        r#"        location {prefix} {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
"#
    )
}

pub fn nginx_conf(dir: &Path, p1: u16, p2: u16, up: u16) -> String {
    nginx_conf_with(dir, p1, p2, up, &nginx_location("/"))
}

/// nginx's configuration with these `location` blocks.
pub fn nginx_conf_with(dir: &Path, p1: u16, p2: u16, up: u16, locations: &str) -> String {
    let d = dir.display();
    format!(
        r#"user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 19000;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream up {{
        server 127.0.0.1:{up};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{p1};
        listen 127.0.0.1:{p2} http2;
{locations}    }}
}}
"#
    )
}

/// nginx, one worker process, upstream keep-alive, no access log; h2c on a second port.
pub fn nginx(work: &Path, up: u16, cpus: Option<&str>, probe: &str) -> Result<Target, String> {
    nginx_with("nginx", work, up, cpus, probe, &nginx_location("/"))
}

/// nginx with `routes` path-prefix locations (P6): `nginx-r10`, `nginx-r10k`.
pub fn nginx_routes(work: &Path, up: u16, routes: usize, cpus: Option<&str>) -> Result<Target, String> {
    let name = if routes == config_scale::FEW { "nginx-r10" } else { "nginx-r10k" };
    nginx_with(name, work, up, cpus, config_scale::PATH, &config_scale::nginx_locations(routes))
}

/// The configuration file and prefix folder of a P6 nginx with `routes` locations, for `nginx -t`.
pub fn nginx_routes_files(work: &Path, up: u16, routes: usize) -> Result<(PathBuf, PathBuf), String> {
    let dir = work.join(format!("nginx-check-{routes}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let conf = dir.join("nginx.conf");
    let text = nginx_conf_with(&dir, free_port()?, free_port()?, up, &config_scale::nginx_locations(routes));
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    Ok((dir, conf))
}

fn nginx_with(
    name: &str,
    work: &Path,
    up: u16,
    cpus: Option<&str>,
    probe: &str,
    locations: &str,
) -> Result<Target, String> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (p1, p2) = (free_port()?, free_port()?);
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf_with(&dir, p1, p2, up, locations)).map_err(|e| e.to_string())?;
    let argv = vec![
        "nginx".into(),
        "-p".into(),
        dir.display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
        "-c".into(),
        conf.display().to_string(),
    ];
    start(name, argv, Vec::new(), cpus, &dir.join("stdout.log"), (p1, Some(p2)), probe)
}

pub fn haproxy_conf(p1: u16, p2: u16, up: u16) -> String {
    format!(
        r#"global
    nbthread 1
    maxconn 9000
defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend fe
    bind 127.0.0.1:{p1}
    bind 127.0.0.1:{p2} proto h2
    http-request set-header X-Forwarded-Proto http
    default_backend be
backend be
    server up 127.0.0.1:{up}
"#
    )
}

/// HAProxy, `nbthread 1`, `http-reuse always`; h2c (`proto h2`) on a second port.
pub fn haproxy(work: &Path, up: u16, cpus: Option<&str>, probe: &str) -> Result<Target, String> {
    let dir = work.join("haproxy");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (p1, p2) = (free_port()?, free_port()?);
    let conf = dir.join("haproxy.cfg");
    std::fs::write(&conf, haproxy_conf(p1, p2, up)).map_err(|e| e.to_string())?;
    let argv = vec!["haproxy".into(), "-db".into(), "-f".into(), conf.display().to_string()];
    start("haproxy", argv, Vec::new(), cpus, &dir.join("stdout.log"), (p1, Some(p2)), probe)
}

pub fn sluice_gateway(port: u16) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: default}}
spec:
  gatewayClassName: sluice
  listeners: [{{name: http, protocol: HTTP, port: {port}}}]
"#
    )
}

/// The Service `default/upstream` (port 80) and its EndpointSlice: the bench upstream on `up`.
/// Starts with `---`.
pub fn upstream_service(up: u16) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: upstream, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: {up}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: upstream-1
  namespace: default
  labels: {{kubernetes.io/service-name: upstream}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {up}}}]
"#
    )
}

pub fn sluice_conf(port: u16, up: u16) -> String {
    sluice_gateway(port)
        + &upstream_service(up)
        + r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: all, namespace: default}
spec:
  parentRefs: [{name: bench}]
  rules:
    - backendRefs: [{name: upstream, port: 80}]
"#
}

/// The wire format of the provider behind Sluice's AI route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AiProvider {
    /// `type: openai`: OpenAI client to OpenAI provider, the body passed through but for the model.
    OpenAi,
    /// `type: anthropic`: OpenAI client translated to Anthropic Messages and back.
    Anthropic,
}

/// The upstream's API key, in Sluice's Secret and LiteLLM's config.
pub const PROVIDER_KEY: &str = "sk-bench-upstream";

/// One AI route (`/v1`, all of the LLM front doors) to one AIBackend whose provider is the bench
/// upstream's fake OpenAI or Anthropic API. Clients ask for `gpt-4o-mini`; the Anthropic backend
/// maps it to a Claude model (an alias), so the same request serves both.
pub fn sluice_ai_conf(port: u16, up: u16, provider: AiProvider) -> String {
    sluice_gateway(port) + &ai_route(up, provider)
}

/// The AI route of [`sluice_ai_conf`], its Secret and its AIBackend, for the Gateway `bench`;
/// starts with `---`.
pub fn ai_route(up: u16, provider: AiProvider) -> String {
    let (kind, models) = match provider {
        AiProvider::OpenAi => ("openai", "[{name: gpt-4o-mini}]"),
        AiProvider::Anthropic => ("anthropic", "[{name: gpt-4o-mini, target: claude-3-5-haiku-20241022}]"),
    };
    format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: llm, namespace: default}}
spec:
  parentRefs: [{{name: bench}}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: /v1}}}}]
      backendRefs: [{{group: sluice.dev, kind: AIBackend, name: llm}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: llm-key, namespace: default}}
stringData: {{apiKey: {PROVIDER_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: llm, namespace: default}}
spec:
  models: {models}
  provider:
    type: {kind}
    baseURL: "http://127.0.0.1:{up}/v1"
    auth: {{secretRef: {{name: llm-key}}}}
"#
    )
}

/// [`sluice_ai_conf`] (OpenAI → OpenAI) with the policy layer's cost in the way: a TrafficPolicy
/// with one local token limit (too large to refuse anything) and one output guard (credit card
/// numbers), so every request is reserved, settled and scanned.
pub fn sluice_ai_policy_conf(port: u16, up: u16) -> String {
    sluice_ai_conf(port, up, AiProvider::OpenAi)
        + r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: costs, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}]
  rateLimits:
    - {name: tokens, tokens: 100000000000, per: minute}
  guards:
    - {name: cards, detect: [creditCard], scope: [output]}
"#
}

/// Sluice, one worker, on P2's AI route with a token limit and a guard ([`sluice_ai_policy_conf`]).
pub fn sluice_ai_policy(bin: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    let mut t =
        sluice_with("sluice-ai-policy", bin, work, 1, cpus, "/v1/models", |port| sluice_ai_policy_conf(port, up))?;
    t.notes.push(
        "sluice-ai-openai plus a TrafficPolicy: one local token limit and one output guard (credit cards)".into(),
    );
    Ok(t)
}

/// A TrafficPolicy writing every request of HTTPRoute `route` to the access log `log`.
fn access_log_policy(route: &str, log: &Path) -> String {
    format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: access-log, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: {route}}}]
  accessLog: {{path: {log:?}}}
"#,
        log = log.display().to_string()
    )
}

/// `sluice-1w` (P1) or `sluice-ai-openai` (P2) with every request written to an access log file
/// in `work`: `sluice-1w-log`, `sluice-ai-log`.
pub fn sluice_logged(name: &str, bin: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    let log = work.join(format!("{name}.access.log"));
    let mut t = if name == "sluice-ai-log" {
        sluice_with(name, bin, work, 1, cpus, "/v1/models", |port| {
            sluice_ai_conf(port, up, AiProvider::OpenAi) + &access_log_policy("llm", &log)
        })?
    } else {
        sluice_with(name, bin, work, 1, cpus, "/bytes/1024", |port| {
            sluice_conf(port, up) + &access_log_policy("all", &log)
        })?
    };
    t.notes.push(format!("every request written to the access log {} (all fields)", log.display()));
    Ok(t)
}

/// `sluice-1w` (P1) or `sluice-ai-openai` (P2) with traces on, sampling every request, sent to
/// the bench upstream's OTLP/HTTP receiver (`POST /v1/traces`): `sluice-1w-trace`,
/// `sluice-ai-trace`.
pub fn sluice_traced(name: &str, bin: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    let env = vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), format!("http://127.0.0.1:{up}/v1/traces"))];
    let mut t = if name == "sluice-ai-trace" {
        sluice_with_env(
            name,
            bin,
            work,
            (1, cpus),
            "/v1/models",
            |port| sluice_ai_conf(port, up, AiProvider::OpenAi),
            env,
        )?
    } else {
        sluice_with_env(name, bin, work, (1, cpus), "/bytes/1024", |port| sluice_conf(port, up), env)?
    };
    t.notes.push("traces on (sampling 1), spans exported over OTLP/HTTP to the bench upstream".into());
    Ok(t)
}

/// How the worker count of the Sluice binary can be set.
/// `sluice run` of `conf` on loopback, its admin plane on `admin`.
pub fn sluice_argv(bin: &Path, conf: &Path, admin: u16) -> Vec<String> {
    vec![
        bin.display().to_string(),
        "run".into(),
        "--config".into(),
        conf.display().to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--admin".into(),
        format!("127.0.0.1:{admin}"),
    ]
}

pub fn sluice_has_workers_flag(bin: &Path) -> bool {
    std::process::Command::new(bin)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--workers"))
}

/// Sluice with `workers` runtime worker threads, all on `cpus`. Uses `--workers` when the binary
/// has it, else tokio's `TOKIO_WORKER_THREADS` (read by the multi-thread runtime's builder).
pub fn sluice(
    bin: &Path,
    work: &Path,
    up: u16,
    workers: usize,
    cpus: Option<&str>,
    probe: &str,
) -> Result<Target, String> {
    sluice_with(&format!("sluice-{workers}w"), bin, work, workers, cpus, probe, |port| sluice_conf(port, up))
}

/// Sluice, one worker thread, with `routes` path-prefix HTTPRoutes (P6): `sluice-r10`, `sluice-r10k`.
pub fn sluice_routes(bin: &Path, work: &Path, up: u16, routes: usize, cpus: Option<&str>) -> Result<Target, String> {
    let name = if routes == config_scale::FEW { "sluice-r10" } else { "sluice-r10k" };
    sluice_with(name, bin, work, 1, cpus, config_scale::PATH, |port| {
        config_scale::sluice_conf(&sluice_gateway(port), up, routes)
    })
}

/// The 10k-route configuration file for `sluice check` (P6 load time).
pub fn sluice_routes_file(work: &Path, up: u16, routes: usize) -> Result<PathBuf, String> {
    let file = work.join(format!("sluice-routes-{routes}.yaml"));
    std::fs::write(&file, config_scale::sluice_conf(&sluice_gateway(free_port()?), up, routes))
        .map_err(|e| e.to_string())?;
    Ok(file)
}

/// Sluice, one worker thread, with an MCPBackend of ten upstream MCP servers on `/mcp` (P5).
pub fn sluice_mcp(bin: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    let mut t = sluice_with("sluice-mcp", bin, work, 1, cpus, "/bytes/16", |port| {
        crate::mcp_load::sluice_conf(&sluice_gateway(port), up)
    })?;
    t.notes.push("MCPBackend `fed`: ten streamable-HTTP targets on the bench upstream, tools prefixed `t<i>_`".into());
    Ok(t)
}

/// Sluice, one worker thread, with an AI route to the bench upstream's fake provider.
pub fn sluice_ai(bin: &Path, work: &Path, up: u16, provider: AiProvider, cpus: Option<&str>) -> Result<Target, String> {
    let name = match provider {
        AiProvider::OpenAi => "sluice-ai-openai",
        AiProvider::Anthropic => "sluice-ai-anthropic",
    };
    let mut t = sluice_with(name, bin, work, 1, cpus, "/v1/models", |port| sluice_ai_conf(port, up, provider))?;
    t.notes.push(match provider {
        AiProvider::OpenAi => {
            "AIBackend `type: openai` (OpenAI → OpenAI: body parsed, model matched, key from a Secret)".into()
        }
        AiProvider::Anthropic => {
            "AIBackend `type: anthropic` (OpenAI → Anthropic Messages → OpenAI translation, key from a Secret)".into()
        }
    });
    Ok(t)
}

fn sluice_with(
    name: &str,
    bin: &Path,
    work: &Path,
    workers: usize,
    cpus: Option<&str>,
    probe: &str,
    conf_for: impl FnOnce(u16) -> String,
) -> Result<Target, String> {
    sluice_with_env(name, bin, work, (workers, cpus), probe, conf_for, Vec::new())
}

/// [`sluice_with`], with more environment variables for the process.
fn sluice_with_env(
    name: &str,
    bin: &Path,
    work: &Path,
    (workers, cpus): (usize, Option<&str>),
    probe: &str,
    conf_for: impl FnOnce(u16) -> String,
    extra_env: Vec<(String, String)>,
) -> Result<Target, String> {
    let dir: PathBuf = work.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (port, admin) = (free_port()?, free_port()?);
    let conf = dir.join("sluice.yaml");
    std::fs::write(&conf, conf_for(port)).map_err(|e| e.to_string())?;
    let mut argv = sluice_argv(bin, &conf, admin);
    let flag = sluice_has_workers_flag(bin);
    let mut env = vec![("SLUICE_LOG".to_string(), "warn".to_string())];
    env.extend(extra_env);
    if flag {
        argv.extend(["--workers".to_string(), workers.to_string()]);
    } else {
        env.push(("TOKIO_WORKER_THREADS".into(), workers.to_string()));
    }
    let mut t = start(name, argv, env, cpus, &dir.join("stdout.log"), (port, Some(port)), probe)?;
    let threads = t.pid().map(thread_names).unwrap_or_default();
    // tokio names its threads `tokio-rt-worker` (older versions: `tokio-runtime-worker`).
    let tokio = threads.iter().filter(|n| n.starts_with("tokio-r")).count();
    t.notes.push(format!(
        "worker count set by {}; {} threads at start ({} tokio runtime threads, blocking-pool threads included)",
        if flag { "`--workers`" } else { "`TOKIO_WORKER_THREADS` (the binary has no `--workers` flag)" },
        threads.len(),
        tokio
    ));
    Ok(t)
}

/// LiteLLM's proxy config: one model, `gpt-4o-mini`, at the bench upstream as an
/// OpenAI-compatible endpoint; the master key the clients send.
pub fn litellm_conf(up: u16) -> String {
    format!(
        r#"model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{up}/v1
      api_key: {PROVIDER_KEY}
litellm_settings:
  telemetry: false
  set_verbose: false
general_settings:
  master_key: {key}
"#,
        key = crate::scenarios::CLIENT_KEY
    )
}

/// LiteLLM's proxy (`litellm --num_workers 1`, from the venv bench/install.sh makes), on `cpus`.
/// `LITELLM_LOCAL_MODEL_COST_MAP` keeps it from fetching its price list at start (no network).
pub fn litellm(bin: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    let dir = work.join("litellm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let conf = dir.join("litellm.yaml");
    std::fs::write(&conf, litellm_conf(up)).map_err(|e| e.to_string())?;
    let argv = vec![
        bin.display().to_string(),
        "--config".into(),
        conf.display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--num_workers".into(),
        "1".into(),
    ];
    let env = vec![
        ("LITELLM_MASTER_KEY".to_string(), crate::scenarios::CLIENT_KEY.to_string()),
        ("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into()),
    ];
    let log = dir.join("stdout.log");
    // It imports a lot: allow a minute and a half on a busy machine.
    let limit = Duration::from_secs(90);
    let mut t = start_within("litellm", argv, env, cpus, &log, (port, None), "/health/liveliness", limit)?;
    t.notes.push("LiteLLM proxy defaults otherwise (uvicorn access log on, no database)".into());
    Ok(t)
}

/// Whether the programs a target needs are installed.
pub fn available(name: &str) -> Result<(), String> {
    match name {
        "nginx" | "haproxy" | "nginx-r10" | "nginx-r10k" if !have(name.split('-').next().unwrap_or(name)) => {
            Err(format!("`{name}` is not installed (run bench/install.sh)"))
        }
        _ => Ok(()),
    }
}
