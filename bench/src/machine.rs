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

/// The guest's idle-poll window under the `haltpoll` cpuidle driver (a KVM guest).
const HALT_POLL: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";
/// How long an idle CPU polls before it halts, while a run lasts.
const POLL_NS: u64 = 200_000;

/// An idle CPU that polls a while before halting, for a run. In a KVM guest whose idle CPUs
/// halt at once (`haltpoll` with a zero window), every wake-up of a halted CPU is an
/// inter-processor interrupt through the hypervisor, charged to the process that wakes it: with
/// the load generator on the other CPU, each answer's wake-up costs the proxy tens of µs of CPU
/// that depend on how long the generator slept, not on the proxy's own work. Polling first (as
/// bare metal's shallow idle states do) takes that out of every target's figures alike.
/// Restores the window when dropped.
pub struct IdlePoll {
    restore: Option<String>,
    /// For the results' head.
    pub note: String,
}

impl IdlePoll {
    /// `keep`: leave the machine as it is (and say how it is).
    pub fn set(keep: bool) -> IdlePoll {
        let driver = read("/sys/devices/system/cpu/cpuidle/current_driver").trim().to_string();
        let was = read(HALT_POLL).trim().to_string();
        if driver != "haltpoll" || was.is_empty() {
            let driver = if driver.is_empty() { "none".into() } else { driver };
            return IdlePoll { restore: None, note: format!("CPU idle driver: {driver}") };
        }
        if keep || was != "0" {
            return IdlePoll { restore: None, note: format!("CPU idle: haltpoll, poll window {was} ns (as found)") };
        }
        match std::fs::write(HALT_POLL, POLL_NS.to_string()) {
            Ok(()) => IdlePoll {
                restore: Some(was),
                note: format!(
                    "CPU idle: haltpoll, poll window set to {POLL_NS} ns for the run (was 0: see machine.rs, IdlePoll)"
                ),
            },
            Err(e) => IdlePoll {
                restore: None,
                note: format!("CPU idle: haltpoll, poll window 0 (halts at once; setting it failed: {e})"),
            },
        }
    }
}

impl Drop for IdlePoll {
    fn drop(&mut self) {
        if let Some(was) = self.restore.take() {
            let _ = std::fs::write(HALT_POLL, was);
        }
    }
}
