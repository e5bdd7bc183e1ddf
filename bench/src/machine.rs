//! Facts about the machine and the programs, for the head of `RESULTS.md`.

use std::path::Path;
use std::time::SystemTime;

use crate::procs::first_line;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

pub fn kernel() -> String {
    read("/proc/sys/kernel/osrelease").trim().to_string()
}

pub fn memory() -> String {
    read("/proc/meminfo").lines().next().and_then(|l| l.strip_prefix("MemTotal:")).unwrap_or("").trim().to_string()
}

pub fn loadavg() -> String {
    read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

pub fn now_utc() -> String {
    first_line("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"])
}

/// `abc1234` or `abc1234 (+ uncommitted changes in src/)`.
pub fn git_rev(root: &Path) -> String {
    let dir = root.display().to_string();
    let rev = first_line("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]);
    let dirty = std::process::Command::new("git")
        .args(["-C", &dir, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty { format!("{rev} (+ uncommitted changes)") } else { rev }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest: Option<SystemTime> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() { newest_mtime(&p) } else { e.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// Whether a binary is older than the newest file under `src`.
pub fn older_than_sources(bin: &Path, src: &Path) -> bool {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok();
    matches!((built, newest_mtime(src)), (Some(b), Some(s)) if b < s)
}
