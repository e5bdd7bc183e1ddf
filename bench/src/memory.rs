//! P4: memory. The resident set (VmRSS, summed over the proxy's process tree) when idle — right
//! after it started and answered one probe — and while it holds 10,000 concurrent open streams.
//!
//! The streams are h2c streams from `bench-hold`: 100 connections × 100 concurrent GETs of the
//! upstream's never-ending SSE stream (a 64-byte event a second), each proxied to the upstream
//! over its own HTTP/1.1 connection. HTTP/2 downstream is what makes 10,000 streams possible
//! here: a process may hold 20,000 file descriptors on this machine (hard limit, not raisable
//! without privileges), and 10,000 HTTP/1.1 streams would need 20,000 sockets in the proxy
//! alone. The figure is read once every stream has received its first event, after one more
//! second.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::tree;
use crate::report::Spread;
use crate::targets::Target;

pub const P4_TARGETS: &[&str] = &["nginx", "haproxy", "sluice-1w"];
pub const PATH: &str = "/sse?chunks=100000&interval_ms=1000&size=64";

/// VmRSS of a process and its descendants, in KiB.
pub fn rss_kib(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

#[derive(Default)]
pub struct MemResults {
    pub streams: usize,
    pub per_connection: usize,
    pub targets: Vec<String>,
    pub idle_kib: HashMap<String, u64>,
    pub held_kib: HashMap<String, Vec<u64>>,
    pub ready_ms: HashMap<String, Vec<u64>>,
    pub failures: Vec<(String, String)>,
}

impl MemResults {
    /// Notes the idle figure of every P4 target (call right after they started).
    pub fn idle(targets: &[Target]) -> MemResults {
        let mut r = MemResults::default();
        for t in targets.iter().filter(|t| P4_TARGETS.contains(&crate::targets::kind(&t.name))) {
            if let Some(pid) = t.pid() {
                r.idle_kib.insert(t.name.clone(), rss_kib(pid));
                r.targets.push(t.name.clone());
            }
        }
        r
    }
}

/// One hold: the RSS with every stream open, and how long opening them took.
fn hold(bin: &Path, cpus: Option<&str>, t: &Target, connections: usize, streams: usize) -> Result<(u64, u64), String> {
    let pid = t.pid().ok_or("no process")?;
    let port = t.h2_port.ok_or("no h2c listener")?;
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let mut cmd = match cpus {
        Some(c) => {
            let mut c2 = Command::new("taskset");
            c2.args(["-c", c]).arg(bin);
            c2
        }
        None => Command::new(bin),
    };
    cmd.args(["--url", &url, "--connections", &connections.to_string(), "--streams", &streams.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut ready = None;
    let mut errors = Vec::new();
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix("ready ") {
            let ms = rest.split_whitespace().nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
            let n: usize = rest.split_whitespace().next().and_then(|m| m.parse().ok()).unwrap_or(0);
            ready = Some((n, ms));
            break;
        }
        if errors.len() < 3 {
            errors.push(line);
        }
    }
    let result = match ready {
        Some((n, ms)) if n == connections * streams => {
            std::thread::sleep(Duration::from_secs(1));
            Ok((rss_kib(pid), ms))
        }
        Some((n, _)) => Err(format!("{n} of {} streams opened: {}", connections * streams, errors.join("; "))),
        None => Err(format!("bench-hold gave up: {}", errors.join("; "))),
    };
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    // Let the proxy close its upstream connections before the next target runs.
    std::thread::sleep(Duration::from_secs(2));
    result
}

/// Holds the streams against every P4 target, `rounds` times, targets interleaved.
pub fn run(r: &mut MemResults, targets: &[Target], bin: &Path, cpus: Option<&str>, rounds: usize, quick: bool) {
    let (connections, streams) = if quick { (10, 10) } else { (100, 100) };
    r.streams = connections * streams;
    r.per_connection = streams;
    for round in 0..rounds {
        for t in targets.iter().filter(|t| r.targets.contains(&t.name)) {
            match hold(bin, cpus, t, connections, streams) {
                Ok((kib, ms)) => {
                    eprintln!(
                        "[round {}/{rounds}] p4-hold-{} {:<22} rss {:>8.1} MiB (streams open in {ms} ms)",
                        round + 1,
                        r.streams,
                        t.name,
                        kib as f64 / 1024.0
                    );
                    r.held_kib.entry(t.name.clone()).or_default().push(kib);
                    r.ready_ms.entry(t.name.clone()).or_default().push(ms);
                }
                Err(e) => {
                    eprintln!("[round {}/{rounds}] p4 {}: {e}", round + 1, t.name);
                    r.failures.push((t.name.clone(), e));
                }
            }
        }
    }
}

/// The P4 section of `RESULTS.md`.
pub fn render(out: &mut String, r: &MemResults) {
    if r.targets.is_empty() {
        return;
    }
    let mib = |k: f64| format!("{:.1} MiB", k / 1024.0);
    let _ = writeln!(out, "### P4: memory\n");
    let _ = writeln!(
        out,
        "VmRSS of the proxy's process tree: idle (just started, one probe answered), and holding {} concurrent streams (h2c, {} per connection; each proxied over its own upstream HTTP/1.1 connection). Ratios are to nginx.\n",
        r.streams, r.per_connection
    );
    let _ = writeln!(
        out,
        "| Target | idle | × nginx | {} streams, median (range) | × nginx | per stream | streams open in |",
        r.streams
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let held = |name: &str| r.held_kib.get(name).and_then(|v| Spread::of(v.iter().map(|&k| k as f64).collect()));
    let nginx_idle = r.idle_kib.get("nginx").map(|&k| k as f64);
    let nginx_held = held("nginx");
    for name in &r.targets {
        let idle = r.idle_kib.get(name).map(|&k| k as f64);
        let h = held(name);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 && name != "nginx" => format!("{:.2}×", a / b),
            _ => "—".into(),
        };
        let per_stream = match (h, idle) {
            (Some(h), Some(i)) if r.streams > 0 => format!("{:.1} KiB", (h.median - i) / r.streams as f64),
            _ => "—".into(),
        };
        let ready = r
            .ready_ms
            .get(name)
            .and_then(|v| Spread::of(v.iter().map(|&m| m as f64).collect()))
            .map_or("—".into(), |s| format!("{:.0} ms", s.median));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {per_stream} | {ready} |",
            idle.map_or("—".into(), mib),
            ratio(idle, nginx_idle),
            h.map_or("—".into(), |s| s.show(mib)),
            ratio(h.map(|s| s.median), nginx_held.map(|s| s.median)),
        );
    }
    if let (Some(i), Some(h)) = (r.idle_kib.get("sluice-1w"), held("sluice-1w")) {
        let idle_ok = (*i as f64) <= 20.0 * 1024.0;
        let held_ok = h.median <= 150.0 * 1024.0;
        let _ = writeln!(
            out,
            "\nTargets of issue 5: idle RSS ≤ 20 MiB — {}; 10k open streams ≤ 150 MiB — {}{}.",
            if idle_ok { "met" } else { "**not met**" },
            if held_ok { "met" } else { "**not met**" },
            if r.streams == 10_000 { "" } else { " (this run held fewer streams: not comparable)" }
        );
    }
    for (t, e) in &r.failures {
        let _ = writeln!(out, "\n{t}: a hold failed: {e}");
    }
    out.push('\n');
}
