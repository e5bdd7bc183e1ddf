//! `bench-soak`: a long mixed load on one Sluice (see `sluice_bench::soak`), its resident memory
//! and open descriptors read every `--every` seconds; exits non-zero when either keeps growing,
//! when a kind of traffic was never served, or when Sluice died.
//!
//! ```text
//! bench-soak [--duration 600] [--every 10] [--out bench/SOAK.md] [--sluice PATH] [--smoke]
//! ```
//! `--smoke` (CI's short run): the verdict asks only that every kind of traffic was served and
//! that Sluice lived; the plateau is printed, not judged (a short run is mostly warm-up).
//! Runs `sluice` and `bench-upstream` from next to itself (`target/release/`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sluice_bench::procs::{Proc, Spawn, kill_children_on_signal, start_upstream};
use sluice_bench::soak;
use sluice_bench::targets::{free_port, get_ok, sluice_argv, sluice_gateway};

struct Args {
    duration: u64,
    every: u64,
    out: Option<PathBuf>,
    sluice: Option<PathBuf>,
    smoke: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args { duration: 600, every: 10, out: None, sluice: None, smoke: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => a.duration = value()?.parse().map_err(|e| format!("--duration: {e}"))?,
            "--every" => a.every = value()?.parse().map_err(|e| format!("--every: {e}"))?,
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "--sluice" => a.sluice = Some(PathBuf::from(value()?)),
            "--smoke" => a.smoke = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-soak: {e}");
            return ExitCode::from(2);
        }
    };
    kill_children_on_signal();
    match soak_once(&a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn soak_once(a: &Args) -> Result<bool, String> {
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = here.parent().ok_or("no directory")?.to_path_buf();
    let sluice_bin = a.sluice.clone().unwrap_or_else(|| dir.join("sluice"));
    let work = std::env::temp_dir().join(format!("sluice-soak-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let (_upstream, up) = start_upstream(&dir.join("bench-upstream"), None, Duration::from_micros(2000))?;
    let (port, admin) = (free_port()?, free_port()?);
    let conf = work.join("sluice.yaml");
    std::fs::write(&conf, soak::sluice_conf(&sluice_gateway(port), up)).map_err(|e| e.to_string())?;
    let mut argv = sluice_argv(&sluice_bin, &conf, admin);
    argv.extend(["--state-file".into(), work.join("state.json").display().to_string()]);
    let log = work.join("sluice.log");
    let env = vec![("SLUICE_LOG".to_string(), "warn".to_string())];
    let mut sluice = Proc::spawn(Spawn { name: "sluice", argv, cpus: None, env, log: Some(&log) })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !get_ok(port, "/bytes/16") {
        if std::time::Instant::now() > deadline || !sluice.alive() {
            return Err(format!("sluice did not start; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("bench-soak: {} s of mixed load on 127.0.0.1:{port}, sampled every {} s", a.duration, a.every);
    let (samples, last_error) =
        soak::run(port, sluice.pid(), Duration::from_secs(a.duration), Duration::from_secs(a.every))?;
    let alive = sluice.alive();
    let (table, plateaued, served) = soak::render(&samples, last_error.as_deref());
    let report = format!(
        "# Soak\n\n`bench-soak --duration {} --every {}`: plain GETs ({} clients), streamed chat completions, MCP \
         sessions (initialize, tools/list, three tools/call, DELETE) against one Sluice (default workers), \
         clients reconnecting every 50 requests.\n\n{table}\nSluice {} at the end.\n",
        a.duration,
        a.every,
        soak::PLAIN,
        if alive { "was still running" } else { "HAD DIED" }
    );
    print!("{report}");
    if let Some(out) = &a.out {
        std::fs::write(out, &report).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    sluice.stop();
    let _ = std::fs::remove_dir_all(&work);
    Ok(served && alive && (plateaued || a.smoke))
}
