//! `bench-run`: starts the upstream and the proxies, runs every scenario, writes `RESULTS.md`.
//! See `bench/README.md`. It builds nothing: build `sluice` and this crate in release mode first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use sluice_bench::config_scale;
use sluice_bench::load::Load;
use sluice_bench::procs::{first_line, have, kill_children_on_signal};
use sluice_bench::report::{self, Context};
use sluice_bench::run::{self, Plan, load_for, run_all, warm_up};
use sluice_bench::scenarios::{self, Proto};
use sluice_bench::streaming::{self, P3_TARGETS};
use sluice_bench::targets::{self, AiProvider, Target};
use sluice_bench::{machine, mcp_load, memory};

const ALL_TARGETS: &[&str] = &[
    "direct",
    "nginx",
    "haproxy",
    "sluice-1w",
    "sluice-2w",
    "sluice-ai-openai",
    "sluice-ai-anthropic",
    "sluice-ai-policy",
    "sluice-1w-log",
    "sluice-ai-log",
    "sluice-1w-trace",
    "sluice-ai-trace",
    "litellm",
    "nginx-r10",
    "nginx-r10k",
    "sluice-r10",
    "sluice-r10k",
    "sluice-mcp",
];
const USAGE: &str =
    "usage: bench-run [--quick] [--duration SECS] [--rounds N] [--warmup SECS] (whole seconds) [--out FILE]
                 [--targets direct,nginx,haproxy,sluice-1w,sluice-2w,sluice-ai-openai,sluice-ai-anthropic,sluice-ai-policy,sluice-1w-log,sluice-ai-log,
                            sluice-1w-trace,sluice-ai-trace,litellm,
                            nginx-r10,nginx-r10k,sluice-r10,sluice-r10k,sluice-mcp]
                 [--scenarios ID-PREFIX,...] [--sluice BIN] [--baseline BIN] [--upstream BIN] [--litellm BIN] [--keep] [--halt-idle]
                 [--profile DIR] (flamegraphs of one more run per scenario and target; perf and inferno)";

struct Opts {
    quick: bool,
    duration: u64,
    rounds: usize,
    warmup: u64,
    out: Option<PathBuf>,
    targets: Vec<String>,
    scenarios: Vec<String>,
    sluice: Option<PathBuf>,
    /// The Sluice binary of the targets named `NAME@base` (before/after in one run).
    baseline: Option<PathBuf>,
    upstream: Option<PathBuf>,
    litellm: Option<PathBuf>,
    keep: bool,
    /// Leave a KVM guest's idle CPUs halting at once (see machine::IdlePoll).
    halt_idle: bool,
    /// Where flamegraphs go (`--profile DIR`).
    profile: Option<PathBuf>,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        duration: 10,
        rounds: 3,
        warmup: 2,
        out: None,
        targets: ALL_TARGETS.iter().map(|s| s.to_string()).collect(),
        scenarios: Vec::new(),
        sluice: None,
        baseline: None,
        upstream: None,
        litellm: None,
        keep: false,
        halt_idle: false,
        profile: None,
    };
    let (mut duration, mut rounds, mut warmup) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let list = |v: String| v.split(',').filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        match a.as_str() {
            "--quick" => o.quick = true,
            "--keep" => o.keep = true,
            "--halt-idle" => o.halt_idle = true,
            "--duration" => duration = Some(val()?.parse::<u64>().map_err(|e| format!("--duration: {e}"))?),
            "--rounds" => rounds = Some(val()?.parse::<usize>().map_err(|e| format!("--rounds: {e}"))?),
            "--warmup" => warmup = Some(val()?.parse::<u64>().map_err(|e| format!("--warmup: {e}"))?),
            "--out" => o.out = Some(val()?.into()),
            "--targets" => o.targets = list(val()?),
            "--scenarios" => o.scenarios = list(val()?),
            "--sluice" => o.sluice = Some(val()?.into()),
            "--baseline" => o.baseline = Some(val()?.into()),
            "--upstream" => o.upstream = Some(val()?.into()),
            "--litellm" => o.litellm = Some(val()?.into()),
            "--profile" => o.profile = Some(val()?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.quick {
        (o.duration, o.rounds, o.warmup) = (1, 1, 1);
    }
    o.duration = duration.unwrap_or(o.duration).max(1);
    o.rounds = rounds.unwrap_or(o.rounds).max(1);
    o.warmup = warmup.unwrap_or(o.warmup);
    if let Some(bad) = o.targets.iter().find(|t| !ALL_TARGETS.contains(&targets::kind(t))) {
        return Err(format!("unknown target {bad}; known: {}", ALL_TARGETS.join(",")));
    }
    Ok(o)
}

/// The bench crate's directory and the workspace root, as compiled in.
fn dirs() -> (PathBuf, PathBuf) {
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = bench.parent().map_or_else(|| bench.clone(), Path::to_path_buf);
    (bench, root)
}

/// A binary next to this one (cargo puts all of a profile's binaries in one folder).
fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

/// Where bench/install.sh puts LiteLLM.
fn litellm_default(bench: &Path) -> PathBuf {
    bench.join(".venv-litellm/bin/litellm")
}

fn start_target(
    name: &str,
    sluice: &Path,
    litellm: &Path,
    work: &Path,
    up: u16,
    cpus: Option<&str>,
) -> Result<Target, String> {
    let name = targets::kind(name);
    targets::available(name)?;
    let probe = "/bytes/1024";
    let need_sluice = || {
        if sluice.is_file() {
            Ok(())
        } else {
            Err(format!("{} not found: build it with `cargo build --release -p sluice`", sluice.display()))
        }
    };
    match name {
        "direct" => Ok(targets::direct(up)),
        "nginx" => targets::nginx(work, up, cpus, probe),
        "nginx-r10" => targets::nginx_routes(work, up, config_scale::FEW, cpus),
        "nginx-r10k" => targets::nginx_routes(work, up, config_scale::MANY, cpus),
        "sluice-mcp" => need_sluice().and_then(|()| targets::sluice_mcp(sluice, work, up, cpus)),
        "sluice-r10" => need_sluice().and_then(|()| targets::sluice_routes(sluice, work, up, config_scale::FEW, cpus)),
        "sluice-r10k" => {
            need_sluice().and_then(|()| targets::sluice_routes(sluice, work, up, config_scale::MANY, cpus))
        }
        "haproxy" => targets::haproxy(work, up, cpus, probe),
        "litellm" => {
            if !litellm.is_file() {
                return Err(format!("LiteLLM is not installed at {} (run bench/install.sh)", litellm.display()));
            }
            targets::litellm(litellm, work, up, cpus)
        }
        "sluice-ai-openai" => {
            need_sluice().and_then(|()| targets::sluice_ai(sluice, work, up, AiProvider::OpenAi, cpus))
        }
        "sluice-ai-anthropic" => {
            need_sluice().and_then(|()| targets::sluice_ai(sluice, work, up, AiProvider::Anthropic, cpus))
        }
        "sluice-ai-policy" => need_sluice().and_then(|()| targets::sluice_ai_policy(sluice, work, up, cpus)),
        "sluice-1w-log" | "sluice-ai-log" => {
            need_sluice().and_then(|()| targets::sluice_logged(name, sluice, work, up, cpus))
        }
        "sluice-1w-trace" | "sluice-ai-trace" => {
            need_sluice().and_then(|()| targets::sluice_traced(name, sluice, work, up, cpus))
        }
        _ => {
            if !sluice.is_file() {
                return Err(format!("{} not found: build it with `cargo build --release -p sluice`", sluice.display()));
            }
            let workers = if name == "sluice-2w" { 2 } else { 1 };
            targets::sluice(sluice, work, up, workers, cpus, probe)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn context(
    o: &Opts,
    idle: &str,
    sluice: &Path,
    litellm: &Path,
    root: &Path,
    targets: &[Target],
    pinned: bool,
    example: &[Load],
    p3: Option<&streaming::StreamScenario>,
) -> Context {
    let mut ctx = Context { title: format!("Sluice benchmark results ({})", machine::now_utc()), ..Context::default() };
    if o.quick {
        ctx.title.push_str(" — quick smoke run, figures not meaningful");
    }
    ctx.machine = vec![
        format!("CPUs: {} × {}", machine::cpus(), machine::cpu_model()),
        format!("Kernel: {}", machine::kernel()),
        format!("Memory: {}", machine::memory()),
        format!("Load average when the run ended: {}", machine::loadavg()),
        idle.to_string(),
    ];
    let sluice_version = first_line(&sluice.display().to_string(), &["--version"]);
    ctx.versions = vec![
        format!("sluice: {sluice_version}, git {}, binary {}", machine::git_rev(root), sluice.display()),
        format!("nginx: {}", first_line("nginx", &["-v"])),
        format!("HAProxy: {}", first_line("haproxy", &["-v"])),
        format!("wrk: {}", first_line("wrk", &["-v"])),
        format!("h2load: {}", first_line("h2load", &["--version"])),
    ];
    if targets.iter().any(|t| t.name == "litellm") {
        let pip = std::process::Command::new(litellm.with_file_name("pip")).args(["show", "litellm"]).output();
        let v = pip
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout).lines().find_map(|l| l.strip_prefix("Version: ").map(String::from))
            })
            .unwrap_or_else(|| "version unknown".into());
        let py = first_line(&litellm.with_file_name("python").display().to_string(), &["--version"]);
        ctx.versions.push(format!("LiteLLM: {v} (`litellm[proxy]`, {py}, venv {})", litellm.display()));
    }
    let pin = |what: &str, cpu: &str| {
        if pinned {
            format!("{what} pinned to CPU {cpu} with `taskset`")
        } else {
            format!("{what} unpinned (fewer than 2 CPUs)")
        }
    };
    ctx.method = vec![
        format!(
            "{} s per run after a {} s warm-up per target; {} round(s), targets interleaved within each scenario and rotated every round",
            o.duration, o.warmup, o.rounds
        ),
        pin("upstream (`bench-upstream`, Rust/hyper, 1 thread, TCP_NODELAY) and the proxy under test", "0"),
        pin("load generator (`wrk -t1 --latency` for HTTP/1.1; `h2load -t1` for h2c, percentiles from its per-request log)", "1"),
        "CPU µs/req: utime+stime of the proxy's process tree (all threads, `/proc/<pid>/stat`) after minus before a run, divided by the requests the load generator completed".into(),
        "Every proxy keeps upstream connections alive and adds X-Forwarded-For/-Proto; nginx: 1 worker, access_log off; HAProxy: nbthread 1, http-reuse always; Sluice: 1 or 2 runtime worker threads".into(),
        "Latency is closed-loop (each connection sends its next request when the previous answer arrives): at 32/64 connections it is queueing delay at saturation".into(),
        "P2: wrk POSTs a ~1 KiB OpenAI chat request (Lua script) to `/v1/chat/completions`; the upstream answers a fixed ~1 KiB chat completion with usage (OpenAI) or the same message in Anthropic's format (`/v1/messages`). nginx forwards the POST as is (the plain-forward baseline); Sluice parses it, matches the model, applies the provider key from a Secret and, for Anthropic, translates both ways; LiteLLM's proxy (one uvicorn worker) calls the upstream as an OpenAI-compatible endpoint".into(),
    ];
    if let Some(sc) = p3 {
        ctx.method.push(format!(
            "P3: `bench-stream` (Rust/hyper client, on the load CPU) opens {} streamed chat completions per target and round, {} at a time; the upstream sends {} content chunks {} µs apart, each stamped with the time it produced it",
            sc.streams,
            sc.concurrency,
            sc.chunks,
            sc.interval.as_micros()
        ));
    }
    ctx.commands = vec![
        "# reproduce (from the repository root)".into(),
        "sudo bash bench/run.sh   # installs, builds, then: target/release/bench-run".into(),
        "# targets".into(),
    ];
    ctx.commands.extend(targets.iter().map(|t| format!("{}: {}", t.name, t.command)));
    ctx.commands.push("# load (one per protocol; URL, connections and streams vary by scenario)".into());
    let lcpu = if pinned { "taskset -c 1 " } else { "" };
    ctx.commands.extend(example.iter().map(|l| format!("{lcpu}{}", l.argv(Path::new("h2load.log")).join(" "))));
    for t in targets {
        ctx.notes.extend(t.notes.iter().map(|n| format!("{}: {n}", t.name)));
    }
    if !targets::sluice_has_workers_flag(sluice) {
        ctx.notes.push("The sluice binary has no `--workers` flag; its worker count was set through tokio's `TOKIO_WORKER_THREADS` (its default is the available parallelism, 1 under `taskset -c 0`)".into());
    }
    if machine::older_than_sources(sluice, &root.join("src")) {
        ctx.notes.push(format!(
            "{} is older than the newest file under src/: the figures are for an earlier build",
            sluice.display()
        ));
    }
    ctx
}

/// Runs `bench-tokens` (next to this binary) and returns its markdown table.
fn token_counting(quick: bool, cpus: Option<&str>) -> Result<String, String> {
    let bin = sibling("bench-tokens");
    let mut cmd = match cpus {
        Some(c) => {
            let mut t = std::process::Command::new("taskset");
            t.args(["-c", c]).arg(&bin);
            t
        }
        None => std::process::Command::new(&bin),
    };
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().map_err(|e| format!("{}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    eprintln!("tokens:\n{text}");
    Ok(text)
}

fn main() -> ExitCode {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    kill_children_on_signal();
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Opts) -> Result<(), String> {
    let (bench, root) = dirs();
    let sluice = o.sluice.clone().unwrap_or_else(|| sibling("sluice"));
    let upstream_bin = o.upstream.clone().unwrap_or_else(|| sibling("bench-upstream"));
    let client_bin = sibling("bench-stream");
    let litellm = o.litellm.clone().unwrap_or_else(|| litellm_default(&bench));
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| if o.quick { root.join("target/bench/RESULTS-quick.md") } else { bench.join("RESULTS.md") });
    let pinned = machine::cpus() >= 2 && have("taskset");
    let (proxy_cpus, load_cpus) = if pinned { (Some("0"), Some("1".to_string())) } else { (None, None) };

    // Held until the run ends (restores the machine's idle setting when dropped).
    let idle = machine::IdlePoll::set(o.halt_idle);
    let mut notes = Vec::new();
    let selected = |id: &str| o.scenarios.is_empty() || o.scenarios.iter().any(|p| id.starts_with(p.as_str()));
    let scenarios: Vec<_> = scenarios::all()
        .into_iter()
        .filter(|s| selected(s.id))
        .filter(|s| {
            let tool = if s.proto == Proto::H1 { "wrk" } else { "h2load" };
            let ok = have(tool);
            if !ok {
                notes.push(format!("`{}` skipped: `{tool}` is not installed (run bench/install.sh)", s.id));
            }
            ok
        })
        .collect();
    let p3 = Some(streaming::p3(o.quick)).filter(|sc| selected(sc.id));
    let p6_load = selected("p6-load");
    let p4 = selected("p4-hold");
    let p5 = selected("p5-mcp");
    let tokens = selected("tokens");
    if scenarios.is_empty() && p3.is_none() && !p6_load && !p4 && !p5 && !tokens {
        return Err("no scenario to run".into());
    }

    // Only the targets some selected scenario runs against.
    let wanted: Vec<&String> = o
        .targets
        .iter()
        .filter(|t| {
            let t = targets::kind(t);
            scenarios.iter().any(|s| s.targets.contains(&t))
                || (p3.is_some() && P3_TARGETS.contains(&t))
                || (p4 && memory::P4_TARGETS.contains(&t))
                || (p5 && t == "sluice-mcp")
        })
        .collect();

    let work = std::env::temp_dir().join(format!("sluice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let interval = p3.as_ref().map_or(Duration::from_millis(10), |sc| sc.interval);
    let (upstream, up_port) = sluice_bench::procs::start_upstream(&upstream_bin, proxy_cpus, interval)?;
    eprintln!("bench-upstream on 127.0.0.1:{up_port}; work dir {}", work.display());

    let wanted_names: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    let mut targets = Vec::new();
    for name in wanted {
        if name == "litellm" && o.quick && !litellm.is_file() {
            let note = format!(
                "litellm skipped in --quick mode: not installed at {} (bench/install.sh installs it)",
                litellm.display()
            );
            eprintln!("{note}");
            notes.push(note);
            continue;
        }
        // A baseline target has its own configs (a Sluice reloads a config rewritten under it).
        let (from, dir) = match (name.ends_with(targets::BASELINE), &o.baseline) {
            (false, _) => (&sluice, work.clone()),
            (true, Some(b)) => (b, work.join("base")),
            (true, None) => return Err(format!("{name}: a {} target needs --baseline PATH", targets::BASELINE)),
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        match start_target(name, from, &litellm, &dir, up_port, proxy_cpus) {
            Ok(mut t) => {
                t.name = name.to_string();
                eprintln!("started {name}: {}", t.command);
                targets.push(t);
            }
            Err(e) => {
                eprintln!("{name} not run: {e}");
                notes.push(format!("{name} not run: {}", e.lines().next().unwrap_or("")));
            }
        }
    }
    if targets.is_empty() && !wanted_names.is_empty() {
        return Err("no target could be started".into());
    }

    // P4's idle figures: the targets as they are right after starting.
    let mut mem = if p4 { memory::MemResults::idle(&targets) } else { memory::MemResults::default() };

    let chat_script = work.join("chat.lua");
    std::fs::write(&chat_script, scenarios::wrk_chat_script())
        .map_err(|e| format!("{}: {e}", chat_script.display()))?;
    let plan = Plan {
        duration: Duration::from_secs(o.duration),
        warmup: Duration::from_secs(o.warmup),
        rounds: o.rounds,
        load_cpus,
        pause: Duration::from_millis(if o.quick { 100 } else { 300 }),
        chat_script,
    };
    if o.profile.is_some() {
        sluice_bench::profile::check_tools()?;
    }
    warm_up(&mut targets, &scenarios, &plan, &work);
    let results = run_all(&mut targets, &scenarios, upstream.pid(), &plan, &work);
    if let Some(dir) = &o.profile {
        for t in &targets {
            for sc in scenarios.iter().filter(|sc| run::applies(sc, t)) {
                let (Some(pid), Ok(load)) = (t.pid(), load_for(sc, t, &plan, plan.duration)) else { continue };
                let name = format!("{}-{}", sc.id, t.name);
                match sluice_bench::profile::profile(&load, pid, (dir, &name), plan.load_cpus.as_deref(), &work) {
                    Ok(()) => eprintln!("profile {}", dir.join(format!("{name}.svg")).display()),
                    Err(e) => notes.push(format!("no profile of {name}: {e}")),
                }
            }
        }
    }
    let p3_results = match &p3 {
        Some(sc) => {
            streaming::run(&mut targets, sc, o.rounds, &client_bin, plan.load_cpus.as_deref(), &work, plan.pause)
        }
        None => streaming::StreamResults::default(),
    };

    if p4 {
        let hold_bin = sibling("bench-hold");
        memory::run(&mut mem, &targets, &hold_bin, plan.load_cpus.as_deref(), o.rounds, o.quick);
    }

    let mcp = if p5 {
        let port = targets.iter().find(|t| t.name == "sluice-mcp").map(|t| t.h1_port);
        mcp_load::run(up_port, port, o.rounds, o.quick)
    } else {
        mcp_load::McpResults::default()
    };

    // P6: load time of 10k routes (no proxy running is needed; the run is short).
    let load_times = if p6_load && sluice.is_file() {
        let rounds = o.rounds.max(3);
        let sluice_file = targets::sluice_routes_file(&work, up_port, config_scale::MANY)?;
        let nginx_files =
            if have("nginx") { Some(targets::nginx_routes_files(&work, up_port, config_scale::MANY)?) } else { None };
        let nginx_ref = nginx_files.as_ref().map(|(d, c)| (d.as_path(), c.as_path()));
        eprintln!("P6: timing the load of {} routes, {rounds} rounds", config_scale::MANY);
        Some(config_scale::load_times(&sluice, &sluice_file, nginx_ref, rounds))
    } else {
        None
    };

    // Token counting: bench-tokens, on the load CPU (no proxy involved).
    let token_section = if tokens { Some(token_counting(o.quick, plan.load_cpus.as_deref())) } else { None };

    let mut examples = Vec::new();
    for (kind, chat) in [(Proto::H1, false), (Proto::H2 { streams: 8 }, false), (Proto::H1, true)] {
        let disc = std::mem::discriminant(&kind);
        if let Some(sc) = scenarios.iter().find(|s| std::mem::discriminant(&s.proto) == disc && s.chat == chat)
            && let Some(t) = targets.iter().find(|t| run::applies(sc, t))
            && let Ok(l) = load_for(sc, t, &plan, plan.duration)
        {
            examples.push(l);
        }
    }
    let mut ctx = context(o, &idle.note, &sluice, &litellm, &root, &targets, pinned, &examples, p3.as_ref());
    if p3.is_some() {
        let lcpu = if pinned { "taskset -c 1 " } else { "" };
        ctx.commands.push(format!(
            "{lcpu}{} --url http://127.0.0.1:PORT/v1/chat/completions --streams N --concurrency N --chunks 100 --interval-us US",
            client_bin.display()
        ));
    }
    ctx.notes.extend(notes);
    for ((s, t), errs) in &results.failures {
        let first = errs.first().map(|e| e.lines().next().unwrap_or("")).unwrap_or("");
        ctx.notes.push(format!(
            "{} × {}: {} run(s) failed: {first}",
            results.scenarios[*s].id,
            results.targets[*t],
            errs.len()
        ));
    }
    for (t, e) in &p3_results.failures {
        ctx.notes.push(format!("p3 × {}: a run failed: {}", p3_results.targets[*t], e.lines().next().unwrap_or("")));
    }
    drop(targets);
    drop(upstream);

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut extra = String::new();
    streaming::render(&mut extra, &p3_results);
    memory::render(&mut extra, &mem);
    mcp_load::render(&mut extra, &mcp);
    let mut token_failed = false;
    if let Some(section) = &token_section {
        match section {
            Ok(table) => {
                extra.push_str("### Token counting\n\n`bench-tokens`: `bpe-openai` (what Sluice counts with, src/ai/tokens.rs) beside `tiktoken-rs` (the reference port of OpenAI's tiktoken), o200k_base, on the same texts; both must give the same token ids before anything is timed. Medians of 3 rounds of 1 s (quick: 1 of 0.1 s).\n\n");
                extra.push_str(table);
                extra.push('\n');
            }
            Err(e) => {
                token_failed = true;
                extra.push_str(&format!("### Token counting\n\nbench-tokens failed: {e}\n\n"));
            }
        }
    }
    config_scale::render(&mut extra, &results, load_times.as_ref());
    std::fs::write(&out, report::render(&ctx, &results, &extra)).map_err(|e| format!("{}: {e}", out.display()))?;
    let csv = out.with_extension("csv");
    std::fs::write(&csv, report::csv(&results)).map_err(|e| format!("{}: {e}", csv.display()))?;
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("RESULTS");
    let p3_csv = out.with_file_name(format!("{stem}-p3.csv"));
    if p3.is_some() {
        std::fs::write(&p3_csv, streaming::csv(&p3_results)).map_err(|e| format!("{}: {e}", p3_csv.display()))?;
    }
    if !o.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    eprintln!("wrote {} and {}", out.display(), csv.display());
    let failed = results.failures.values().map(Vec::len).sum::<usize>()
        + p3_results.failures.len()
        + load_times.as_ref().map_or(0, |l| l.failures.len())
        + mem.failures.len()
        + mcp.failures.len()
        + usize::from(token_failed);
    let measured = !results.samples.is_empty()
        || !p3_results.runs.is_empty()
        || !mem.held_kib.is_empty()
        || !mcp.rounds.is_empty()
        || token_section.as_ref().is_some_and(Result::is_ok)
        || load_times.as_ref().is_some_and(|l| !l.sluice_ms.is_empty());
    if o.quick && (failed > 0 || !measured) {
        return Err(format!("{failed} run(s) failed"));
    }
    Ok(())
}
