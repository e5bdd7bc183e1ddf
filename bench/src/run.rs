//! The measuring loop: every scenario against every target, rounds interleaved.

use std::path::Path;
use std::time::Duration;

use crate::load::{Load, LoadResult};
use crate::procs::{cpu_seconds, machine_busy_seconds, reaped_children_cpu_seconds};
use crate::report::{Results, Sample};
use crate::scenarios::{Proto, Scenario};
use crate::targets::Target;

/// CPU placement and durations.
pub struct Plan {
    pub duration: Duration,
    pub warmup: Duration,
    pub rounds: usize,
    /// CPU list for the load generator (`None`: unpinned).
    pub load_cpus: Option<String>,
    /// Pause between runs, to let closed connections and timers settle.
    pub pause: Duration,

    /// The wrk script that POSTs the chat request (P2).
    pub chat_script: std::path::PathBuf,
}

/// Whether a scenario runs against a target.
pub fn applies(sc: &Scenario, t: &Target) -> bool {
    sc.targets.contains(&crate::targets::kind(&t.name))
}

/// The load for a scenario against a target, or why there is none.
pub fn load_for(sc: &Scenario, t: &Target, plan: &Plan, duration: Duration) -> Result<Load, String> {
    let (port, h2_streams) = match sc.proto {
        Proto::H1 => (t.h1_port, None),
        Proto::H2 { streams } => (t.h2_port.ok_or("no h2c listener")?, Some(streams)),
    };
    Ok(Load {
        url: format!("http://127.0.0.1:{port}{}", sc.path),
        connections: sc.connections,
        h2_streams,
        duration,
        script: sc.chat.then(|| plan.chat_script.clone()),
    })
}

/// One run: the load, with CPU time of the proxy and the upstream read before and after.
pub fn measure(load: &Load, t: &mut Target, upstream_pid: u32, plan: &Plan, scratch: &Path) -> Result<Sample, String> {
    if let Some(p) = &mut t.proc
        && !p.alive()
    {
        return Err(format!("{} is not running", t.name));
    }
    let (up0, px0) = (cpu_seconds(upstream_pid), t.pid().map(cpu_seconds));
    let (busy0, gen0, t0) = (machine_busy_seconds(), reaped_children_cpu_seconds(), std::time::Instant::now());
    let r: LoadResult = load.run(plan.load_cpus.as_deref(), scratch)?;
    let (busy1, gen1, wall) = (machine_busy_seconds(), reaped_children_cpu_seconds(), t0.elapsed().as_secs_f64());
    let (up1, px1) = (cpu_seconds(upstream_pid), t.pid().map(cpu_seconds));
    if r.requests == 0 {
        return Err("no request completed".into());
    }
    let per_req = |a: f64, b: f64| (b - a) * 1e6 / r.requests as f64;
    // What else kept the machine busy meanwhile: all busy CPU time minus the proxy's, the
    // upstream's and the load generator's (idle targets and the harness are in it too).
    let ours = (up1 - up0) + px0.zip(px1).map_or(0.0, |(a, b)| b - a) + (gen1 - gen0);
    let other_cpu_pct = ((busy1 - busy0 - ours) / wall * 100.0).max(0.0);
    Ok(Sample {
        round: 0,
        other_cpu_pct,
        proxy_cpu_us: px0.zip(px1).map(|(a, b)| per_req(a, b)),
        upstream_cpu_us: per_req(up0, up1),
        load: r,
    })
}

/// Warms every target up (connection pools, caches, page faults); nothing is recorded.
pub fn warm_up(targets: &mut [Target], scenarios: &[Scenario], plan: &Plan, scratch: &Path) {
    if plan.warmup.is_zero() {
        return;
    }
    for t in targets.iter_mut() {
        let mut seen = Vec::new();
        for sc in scenarios.iter().filter(|sc| applies(sc, t)) {
            let kind = (std::mem::discriminant(&sc.proto), sc.chat);
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            if let Ok(mut load) = load_for(sc, t, plan, plan.warmup) {
                load.connections = load.connections.max(16);
                if let Err(e) = load.run(plan.load_cpus.as_deref(), scratch) {
                    eprintln!("warm-up of {} ({}) failed: {}", t.name, sc.id, e.lines().next().unwrap_or(""));
                }
            }
        }
    }
}

/// Every round, every scenario, every target (rotated each round so none is always first).
pub fn run_all(
    targets: &mut [Target],
    scenarios: &[Scenario],
    upstream_pid: u32,
    plan: &Plan,
    scratch: &Path,
) -> Results {
    let mut res = Results {
        scenarios: scenarios.to_vec(),
        targets: targets.iter().map(|t| t.name.clone()).collect(),
        ..Results::default()
    };
    let n = targets.len();
    for round in 0..plan.rounds {
        for (s, sc) in scenarios.iter().enumerate() {
            for k in 0..n {
                let ti = (k + round) % n;
                let t = &mut targets[ti];
                if !applies(sc, t) {
                    continue;
                }
                let outcome =
                    load_for(sc, t, plan, plan.duration).and_then(|l| measure(&l, t, upstream_pid, plan, scratch));
                let tag = format!("[round {}/{}] {:<14} {:<19}", round + 1, plan.rounds, sc.id, t.name);
                match outcome {
                    Ok(mut sample) => {
                        sample.round = round;
                        eprintln!(
                            "{tag} {:>8.0} req/s  cpu {:>6} µs/req  p50 {:>8.1} µs  p99 {:>8.1} µs  errors {}",
                            sample.load.rps,
                            sample.proxy_cpu_us.map_or("-".into(), |v| format!("{v:.1}")),
                            sample.load.p50_us,
                            sample.load.p99_us,
                            sample.load.errors
                        );
                        res.samples.entry((s, ti)).or_default().push(sample);
                    }
                    Err(e) => {
                        eprintln!("{tag} skipped: {}", e.lines().next().unwrap_or(""));
                        res.failures.entry((s, ti)).or_default().push(e);
                    }
                }
                std::thread::sleep(plan.pause);
            }
        }
    }
    res
}
