//! Gateway API conformance, run in-process against the data corpus described in
//! /work/shared/conformance/README.md (env SLUICE_CONFORMANCE_DIR, default
//! `../shared/conformance`). One line per case, then `N passed, M failed, K skipped`.
//!
//! Env: SLUICE_CONFORMANCE_CASES (comma-separated names), SLUICE_CONFORMANCE_PARALLEL (cases at
//! once, default 4), SLUICE_CONFORMANCE_MAX_SECS (MaxTimeToConsistency, default 30),
//! SLUICE_CONFORMANCE_STATUS_SECS (status poll timeout, default 5).

mod support;

#[path = "conformance/case.rs"]
mod case;
#[path = "conformance/client.rs"]
mod client;
#[path = "conformance/custom.rs"]
mod custom;
#[path = "conformance/gotls.rs"]
mod gotls;
#[path = "conformance/judge.rs"]
mod judge;
#[path = "conformance/kube_mode.rs"]
mod kube_mode;
#[path = "conformance/runner.rs"]
mod runner;
#[path = "conformance/setup.rs"]
mod setup;
#[path = "conformance/status.rs"]
mod status;
#[path = "conformance/traffic.rs"]
mod traffic;
#[path = "conformance/ws.rs"]
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::Outcome;

fn main() -> ExitCode {
    let dir = std::env::var_os("SLUICE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"));
    let cases_dir = dir.join("cases");
    let Ok(entries) = std::fs::read_dir(&cases_dir) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            eprintln!("\n!!!!! CONFORMANCE CORPUS MISSING: {} does not exist (CI=true) !!!!!\n", cases_dir.display());
        } else {
            eprintln!("conformance corpus missing: {} (set SLUICE_CONFORMANCE_DIR)", cases_dir.display());
        }
        println!("0 passed, 1 failed, 0 skipped");
        return ExitCode::FAILURE;
    };
    let filter: Option<Vec<String>> = std::env::var("SLUICE_CONFORMANCE_CASES")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            filter.as_ref().is_none_or(|f| f.iter().any(|n| n == stem))
        })
        .collect();
    files.sort();
    let unknown: Vec<String> = filter
        .iter()
        .flatten()
        .filter(|n| !files.iter().any(|f| f.file_stem().is_some_and(|s| s == n.as_str())))
        .cloned()
        .collect();
    let parallel = std::env::var("SLUICE_CONFORMANCE_PARALLEL").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let (passed, mut failed, skipped) = rt.block_on(run_all(dir, files, parallel));
    for name in &unknown {
        println!("FAIL {name}: no such case in {}", cases_dir.display());
        failed += 1;
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    let mode = if kube_mode::selected() { "kubernetes (fake API server)" } else { "standalone" };
    eprintln!("conformance run ({mode} mode) took {:.1}s", start.elapsed().as_secs_f64());
    rt.shutdown_timeout(Duration::from_secs(1));
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn run_all(dir: PathBuf, files: Vec<PathBuf>, parallel: usize) -> (usize, usize, usize) {
    let tls = Arc::new(support::tls::conformance_tls_material());
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let dir = Arc::new(dir);
    let handles: Vec<_> = files
        .iter()
        .map(|f| {
            let (f, dir, tls, sem) = (f.clone(), dir.clone(), tls.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
                let outcome = match case::load(&f) {
                    Ok(c) => {
                        let limit = Duration::from_secs(300);
                        tokio::time::timeout(limit, runner::run_case(&dir, &c, tls))
                            .await
                            .unwrap_or_else(|_| Outcome::Fail(format!("case did not finish within {limit:?}")))
                    }
                    Err(e) => Outcome::Fail(format!("harness: {e}")),
                };
                (name, outcome)
            })
        })
        .collect();
    let (mut p, mut f, mut s) = (0, 0, 0);
    for h in handles {
        let (name, outcome) = h.await.unwrap_or_else(|e| ("?".into(), Outcome::Fail(format!("case panicked: {e}"))));
        match outcome {
            Outcome::Pass => {
                p += 1;
                println!("PASS {name}");
            }
            Outcome::Fail(why) => {
                f += 1;
                println!("FAIL {name}: {why}");
            }
            Outcome::NotRun(why) => {
                s += 1;
                println!("NOT RUN {name}: {why}");
            }
        }
    }
    (p, f, s)
}
