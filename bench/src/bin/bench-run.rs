//! `bench-run`: starts the upstream and the proxies, runs every scenario, writes `RESULTS.md`.
//! See `bench/README.md`. It builds nothing: build `sluice` and this crate in release mode first.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use sluice_bench::load::Load;
use sluice_bench::machine;
use sluice_bench::procs::{Proc, Spawn, first_line, have, kill_children_on_signal};
use sluice_bench::report::{self, Context};
use sluice_bench::run::{Plan, load_for, run_all, warm_up};
use sluice_bench::scenarios::{self, Proto};
use sluice_bench::targets::{self, Target};

const ALL_TARGETS: &[&str] = &["direct", "nginx", "haproxy", "sluice-1w", "sluice-2w"];
const USAGE: &str =
    "usage: bench-run [--quick] [--duration SECS] [--rounds N] [--warmup SECS] (whole seconds) [--out FILE]
                 [--targets direct,nginx,haproxy,sluice-1w,sluice-2w] [--scenarios ID-PREFIX,...]
                 [--sluice BIN] [--upstream BIN] [--keep]";

struct Opts {
    quick: bool,
    duration: u64,
    rounds: usize,
    warmup: u64,
    out: Option<PathBuf>,
    targets: Vec<String>,
    scenarios: Vec<String>,
    sluice: Option<PathBuf>,
    upstream: Option<PathBuf>,
    keep: bool,
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
        upstream: None,
        keep: false,
    };
    let (mut duration, mut rounds, mut warmup) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let list = |v: String| v.split(',').filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        match a.as_str() {
            "--quick" => o.quick = true,
            "--keep" => o.keep = true,
            "--duration" => duration = Some(val()?.parse::<u64>().map_err(|e| format!("--duration: {e}"))?),
            "--rounds" => rounds = Some(val()?.parse::<usize>().map_err(|e| format!("--rounds: {e}"))?),
            "--warmup" => warmup = Some(val()?.parse::<u64>().map_err(|e| format!("--warmup: {e}"))?),
            "--out" => o.out = Some(val()?.into()),
            "--targets" => o.targets = list(val()?),
            "--scenarios" => o.scenarios = list(val()?),
            "--sluice" => o.sluice = Some(val()?.into()),
            "--upstream" => o.upstream = Some(val()?.into()),
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
    if let Some(bad) = o.targets.iter().find(|t| !ALL_TARGETS.contains(&t.as_str())) {
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

/// Starts the upstream on the proxy CPU and returns it with its port.
fn start_upstream(bin: &Path, cpus: Option<&str>) -> Result<(Proc, u16), String> {
    let argv = vec![bin.display().to_string(), "--port".into(), "0".into(), "--threads".into(), "1".into()];
    let mut p = Proc::spawn(Spawn { name: "bench-upstream", argv, cpus, env: Vec::new(), log: None })?;
    let out = p.child.stdout.take().ok_or("no stdout from bench-upstream")?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line).map_err(|e| e.to_string())?;
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    port.map(|port| (p, port)).ok_or_else(|| format!("bench-upstream did not start: {line:?}"))
}

fn start_target(name: &str, sluice: &Path, work: &Path, up: u16, cpus: Option<&str>) -> Result<Target, String> {
    targets::available(name)?;
    let probe = "/bytes/1024";
    match name {
        "direct" => Ok(targets::direct(up)),
        "nginx" => targets::nginx(work, up, cpus, probe),
        "haproxy" => targets::haproxy(work, up, cpus, probe),
        _ => {
            if !sluice.is_file() {
                return Err(format!("{} not found: build it with `cargo build --release -p sluice`", sluice.display()));
            }
            let workers = if name == "sluice-2w" { 2 } else { 1 };
            targets::sluice(sluice, work, up, workers, cpus, probe)
        }
    }
}

fn context(o: &Opts, sluice: &Path, root: &Path, targets: &[Target], pinned: bool, example: &[Load]) -> Context {
    let mut ctx = Context { title: format!("Sluice benchmark results ({})", machine::now_utc()), ..Context::default() };
    if o.quick {
        ctx.title.push_str(" — quick smoke run, figures not meaningful");
    }
    ctx.machine = vec![
        format!("CPUs: {} × {}", machine::cpus(), machine::cpu_model()),
        format!("Kernel: {}", machine::kernel()),
        format!("Memory: {}", machine::memory()),
        format!("Load average when the run ended: {}", machine::loadavg()),
    ];
    let sluice_version = first_line(&sluice.display().to_string(), &["--version"]);
    ctx.versions = vec![
        format!("sluice: {sluice_version}, git {}, binary {}", machine::git_rev(root), sluice.display()),
        format!("nginx: {}", first_line("nginx", &["-v"])),
        format!("HAProxy: {}", first_line("haproxy", &["-v"])),
        format!("wrk: {}", first_line("wrk", &["-v"])),
        format!("h2load: {}", first_line("h2load", &["--version"])),
    ];
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
    ];
    ctx.commands = vec![
        "# reproduce (from the repository root)".into(),
        "cargo build --release -p sluice -p sluice-bench && cargo run --release -p sluice-bench --bin bench-run".into(),
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
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| if o.quick { root.join("target/bench/RESULTS-quick.md") } else { bench.join("RESULTS.md") });
    let pinned = machine::cpus() >= 2 && have("taskset");
    let (proxy_cpus, load_cpus) = if pinned { (Some("0"), Some("1".to_string())) } else { (None, None) };

    let mut notes = Vec::new();
    let scenarios: Vec<_> = scenarios::all()
        .into_iter()
        .filter(|s| o.scenarios.is_empty() || o.scenarios.iter().any(|p| s.id.starts_with(p.as_str())))
        .filter(|s| {
            let tool = if s.proto == Proto::H1 { "wrk" } else { "h2load" };
            let ok = have(tool);
            if !ok {
                notes.push(format!("`{}` skipped: `{tool}` is not installed (run bench/install.sh)", s.id));
            }
            ok
        })
        .collect();
    if scenarios.is_empty() {
        return Err("no scenario to run".into());
    }

    let work = std::env::temp_dir().join(format!("sluice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let (upstream, up_port) = start_upstream(&upstream_bin, proxy_cpus)?;
    eprintln!("bench-upstream on 127.0.0.1:{up_port}; work dir {}", work.display());

    let mut targets = Vec::new();
    for name in &o.targets {
        match start_target(name, &sluice, &work, up_port, proxy_cpus) {
            Ok(t) => {
                eprintln!("started {name}: {}", t.command);
                targets.push(t);
            }
            Err(e) => {
                eprintln!("{name} not run: {e}");
                notes.push(format!("{name} not run: {}", e.lines().next().unwrap_or("")));
            }
        }
    }
    if targets.is_empty() {
        return Err("no target could be started".into());
    }

    let plan = Plan {
        duration: Duration::from_secs(o.duration),
        warmup: Duration::from_secs(o.warmup),
        rounds: o.rounds,
        load_cpus,
        pause: Duration::from_millis(if o.quick { 100 } else { 300 }),
    };
    warm_up(&mut targets, &scenarios, &plan, &work);
    let results = run_all(&mut targets, &scenarios, upstream.pid(), &plan, &work);

    let mut examples = Vec::new();
    for kind in [Proto::H1, Proto::H2 { streams: 8 }] {
        let disc = std::mem::discriminant(&kind);
        if let Some(sc) = scenarios.iter().find(|s| std::mem::discriminant(&s.proto) == disc)
            && let Ok(l) = load_for(sc, &targets[0], plan.duration)
        {
            examples.push(l);
        }
    }
    let mut ctx = context(o, &sluice, &root, &targets, pinned, &examples);
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
    drop(targets);
    drop(upstream);

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, report::render(&ctx, &results)).map_err(|e| format!("{}: {e}", out.display()))?;
    let csv = out.with_extension("csv");
    std::fs::write(&csv, report::csv(&results)).map_err(|e| format!("{}: {e}", csv.display()))?;
    if !o.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    eprintln!("wrote {} and {}", out.display(), csv.display());
    let failed = results.failures.values().map(Vec::len).sum::<usize>();
    if o.quick && (failed > 0 || results.samples.is_empty()) {
        return Err(format!("{failed} run(s) failed"));
    }
    Ok(())
}
