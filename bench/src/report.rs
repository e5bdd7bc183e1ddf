//! Collected samples, their medians and spreads, and `RESULTS.md`.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::load::LoadResult;
use crate::scenarios::Scenario;

/// One measured run of one scenario against one target.
#[derive(Clone, Debug)]
pub struct Sample {
    pub round: usize,
    pub load: LoadResult,
    /// CPU µs per completed request of the proxy's process tree; `None` for the direct baseline.
    pub proxy_cpu_us: Option<f64>,
    /// CPU µs per completed request of the upstream (a sanity check: about equal for all targets).
    pub upstream_cpu_us: f64,
    /// Busy CPU time of everything else on the machine during the run, in % of one CPU.
    pub other_cpu_pct: f64,
}

/// A measured quantity of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Rps,
    Cpu,
    P50,
    P99,
    UpstreamCpu,
    OtherCpu,
}

impl Metric {
    pub fn of(self, s: &Sample) -> Option<f64> {
        let v = match self {
            Metric::Rps => s.load.rps,
            Metric::Cpu => s.proxy_cpu_us?,
            Metric::P50 => s.load.p50_us,
            Metric::P99 => s.load.p99_us,
            Metric::UpstreamCpu => s.upstream_cpu_us,
            Metric::OtherCpu => s.other_cpu_pct,
        };
        v.is_finite().then_some(v)
    }
}

/// Everything measured, by (scenario index, target index).
#[derive(Default)]
pub struct Results {
    pub scenarios: Vec<Scenario>,
    pub targets: Vec<String>,
    pub samples: HashMap<(usize, usize), Vec<Sample>>,
    pub failures: HashMap<(usize, usize), Vec<String>>,
}

/// Median, minimum and maximum.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Option<Spread> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Spread { median, min: v[0], max: v[n - 1], n })
    }

    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        if self.n == 1 { f(self.median) } else { format!("{} ({}–{})", f(self.median), f(self.min), f(self.max)) }
    }
}

pub fn fmt_rps(v: f64) -> String {
    format!("{v:.0}")
}

pub fn fmt_us(v: f64) -> String {
    if v >= 1000.0 { format!("{:.2} ms", v / 1000.0) } else { format!("{v:.1} µs") }
}

pub fn fmt_cpu(v: f64) -> String {
    format!("{v:.1}")
}

pub fn fmt_ratio(v: f64) -> String {
    format!("{v:.2}×")
}

impl Results {
    pub fn target_index(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t == name)
    }

    pub fn spread(&self, s: usize, t: usize, m: Metric) -> Option<Spread> {
        let v = self.samples.get(&(s, t))?.iter().filter_map(|x| m.of(x)).collect();
        Spread::of(v)
    }

    /// Per-round ratios of target `t` to target `base` (rounds are interleaved, so paired).
    pub fn ratio(&self, s: usize, t: usize, base: usize, m: Metric) -> Option<Spread> {
        let a = self.samples.get(&(s, t))?;
        let b = self.samples.get(&(s, base))?;
        let v = a
            .iter()
            .filter_map(|x| {
                let y = b.iter().find(|y| y.round == x.round)?;
                Some(m.of(x)? / m.of(y)?)
            })
            .filter(|r| r.is_finite())
            .collect();
        Spread::of(v)
    }
}

/// Free-form sections printed before the figures.
#[derive(Default)]
pub struct Context {
    pub title: String,
    pub machine: Vec<String>,
    pub versions: Vec<String>,
    pub method: Vec<String>,
    pub commands: Vec<String>,
    pub notes: Vec<String>,
}

fn bullets(out: &mut String, items: &[String]) {
    for i in items {
        let _ = writeln!(out, "- {i}");
    }
    out.push('\n');
}

/// A target of issue 5: `metric` of target `who` over nginx's in `scenario`, against `bound`.
struct Check {
    what: &'static str,
    who: &'static str,
    scenario: &'static str,
    metric: Metric,
    /// `true`: the ratio must be at most `bound`; `false`: at least.
    at_most: bool,
    bound: f64,
}

fn checks(group: &str) -> Vec<Check> {
    let c = |what, who, scenario, metric, at_most, bound| Check { what, who, scenario, metric, at_most, bound };
    let mut v = Vec::new();
    match group {
        "P1" => {
            let s = "sluice-1w";
            v.extend([
                c("CPU/req, 1 KiB, 32 conns", s, "p1-h1-1k-c32", Metric::Cpu, true, 0.8),
                c("CPU/req, 1 KiB, 1 conn", s, "p1-h1-1k-c1", Metric::Cpu, true, 1.0),
                c("CPU/req, 16 KiB, 1 conn", s, "p1-h1-16k-c1", Metric::Cpu, true, 1.0),
                c("CPU/req, 16 KiB, 64 conns", s, "p1-h1-16k-c64", Metric::Cpu, true, 1.0),
                c("throughput, 1 KiB, 64 conns", s, "p1-h1-1k-c64", Metric::Rps, false, 1.2),
                c("throughput, 16 KiB, 64 conns", s, "p1-h1-16k-c64", Metric::Rps, false, 1.2),
            ]);
            for sc in crate::scenarios::p1() {
                v.push(c("p99 latency", s, sc.id, Metric::P99, true, 1.0));
            }
        }
        "P2" => {
            for sc in crate::scenarios::p2() {
                v.push(c("CPU/req, OpenAI → OpenAI", "sluice-ai-openai", sc.id, Metric::Cpu, true, 2.0));
                v.push(c(
                    "CPU/req, OpenAI → OpenAI with a token limit and a guard",
                    "sluice-ai-policy",
                    sc.id,
                    Metric::Cpu,
                    true,
                    2.3,
                ));
                v.push(c("CPU/req, OpenAI → Anthropic", "sluice-ai-anthropic", sc.id, Metric::Cpu, true, 3.0));
            }
        }
        _ => {}
    }
    v
}

fn render_checks(out: &mut String, r: &Results, group: &str) {
    let Some(n) = r.target_index("nginx") else { return };
    let list: Vec<Check> = checks(group)
        .into_iter()
        .filter(|c| r.target_index(c.who).is_some() && r.scenarios.iter().any(|x| x.id == c.scenario))
        .collect();
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {group} targets of issue 5 (vs nginx, one worker each)\n");
    let _ = writeln!(out, "| Target | Sluice | Scenario | Bound | Measured ratio (median, range over rounds) | Met |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for c in list {
        let (Some(t), Some(s)) = (r.target_index(c.who), r.scenarios.iter().position(|x| x.id == c.scenario)) else {
            continue;
        };
        let (measured, met) = match r.ratio(s, t, n, c.metric) {
            Some(sp) => {
                let ok = if c.at_most { sp.median <= c.bound } else { sp.median >= c.bound };
                (sp.show(fmt_ratio), if ok { "yes" } else { "**no**" })
            }
            None => ("—".into(), "—"),
        };
        let bound = format!("{} {}", if c.at_most { "≤" } else { "≥" }, fmt_ratio(c.bound));
        let _ = writeln!(out, "| {} | `{}` | `{}` | {bound} | {measured} | {met} |", c.what, c.who, c.scenario);
    }
    out.push('\n');
}

/// The targets with samples in any of the scenarios.
fn targets_of(r: &Results, scenarios: &[usize]) -> Vec<usize> {
    (0..r.targets.len())
        .filter(|&t| scenarios.iter().any(|&s| r.samples.contains_key(&(s, t)) || r.failures.contains_key(&(s, t))))
        .collect()
}

fn render_summary(
    out: &mut String,
    r: &Results,
    scenarios: &[usize],
    metric: Metric,
    heading: &str,
    f: fn(f64) -> String,
) {
    let nginx = r.target_index("nginx");
    let targets = targets_of(r, scenarios);
    let names: Vec<&str> = targets.iter().map(|&t| r.targets[t].as_str()).collect();
    let _ = writeln!(out, "#### {heading}\n");
    let _ = writeln!(out, "| Scenario | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(targets.len()));
    for &s in scenarios {
        let cells: Vec<String> = targets
            .iter()
            .map(|&t| match r.spread(s, t, metric) {
                None => "—".into(),
                Some(sp) => match nginx.filter(|&n| n != t).and_then(|n| r.ratio(s, t, n, metric)) {
                    Some(q) => format!("{} ({})", f(sp.median), fmt_ratio(q.median)),
                    None => f(sp.median),
                },
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", r.scenarios[s].id, cells.join(" | "));
    }
    out.push('\n');
}

fn render_scenario(out: &mut String, r: &Results, s: usize) {
    let sc = &r.scenarios[s];
    let nginx = r.target_index("nginx");
    let _ = writeln!(out, "#### `{}`: {}\n", sc.id, sc.title);
    let _ = writeln!(
        out,
        "| Target | req/s | req/s × nginx | CPU µs/req | CPU × nginx | p50 | p99 | p99 × nginx | upstream CPU µs/req | other load | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for t in targets_of(r, &[s]) {
        let name = &r.targets[t];
        let Some(samples) = r.samples.get(&(s, t)) else {
            let why = r.failures.get(&(s, t)).and_then(|f| f.first()).map_or("not run", String::as_str);
            let _ = writeln!(out, "| {name} | {} |{}", why.lines().next().unwrap_or(""), " — |".repeat(9));
            continue;
        };
        let show = |m: Metric, f: fn(f64) -> String| r.spread(s, t, m).map_or("—".into(), |sp| sp.show(f));
        let ratio = |m: Metric| match nginx.filter(|&n| n != t).and_then(|n| r.ratio(s, t, n, m)) {
            Some(q) => q.show(fmt_ratio),
            None => "—".into(),
        };
        let errors: u64 = samples.iter().map(|x| x.load.errors).sum();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
            show(Metric::Rps, fmt_rps),
            ratio(Metric::Rps),
            show(Metric::Cpu, fmt_cpu),
            ratio(Metric::Cpu),
            show(Metric::P50, fmt_us),
            show(Metric::P99, fmt_us),
            ratio(Metric::P99),
            show(Metric::UpstreamCpu, fmt_cpu),
            show(Metric::OtherCpu, |v| format!("{v:.0}%")),
        );
    }
    out.push('\n');
}

fn group_title(group: &str) -> &'static str {
    match group {
        "P1" => "P1: plain proxying",
        "P2" => "P2: a chat completion through the AI path (non-streamed)",
        "P6" => "P6: routing with 10 and 10,000 routes (ratios to nginx are across route counts; see the P6 section)",
        _ => "Other scenarios",
    }
}

/// The whole `RESULTS.md`; `extra` (the P3 section) goes after the wrk/h2load groups.
pub fn render(ctx: &Context, r: &Results, extra: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", ctx.title);
    let _ = writeln!(out, "## Machine\n");
    bullets(&mut out, &ctx.machine);
    let _ = writeln!(out, "## Versions\n");
    bullets(&mut out, &ctx.versions);
    let _ = writeln!(out, "## Method\n");
    bullets(&mut out, &ctx.method);
    let _ = writeln!(out, "## Commands\n\n```sh");
    for c in &ctx.commands {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out, "```\n");
    let mut groups: Vec<&str> = Vec::new();
    for sc in &r.scenarios {
        if !groups.contains(&sc.group) {
            groups.push(sc.group);
        }
    }
    for g in groups {
        let scenarios: Vec<usize> = (0..r.scenarios.len()).filter(|&s| r.scenarios[s].group == g).collect();
        let _ = writeln!(out, "## {}\n", group_title(g));
        render_checks(&mut out, r, g);
        let _ = writeln!(out, "### Summary (medians; in parentheses the median of per-round ratios to nginx)\n");
        render_summary(&mut out, r, &scenarios, Metric::Cpu, "CPU µs per request of the proxy", fmt_cpu);
        render_summary(&mut out, r, &scenarios, Metric::Rps, "Requests per second", fmt_rps);
        render_summary(&mut out, r, &scenarios, Metric::P99, "p99 latency", fmt_us);
        let _ = writeln!(out, "### Scenarios\n");
        let _ = writeln!(
            out,
            "Each cell: median over rounds, then (min–max). Ratios are per round, paired (rounds interleave the targets). \\\n*Other load*: CPU time the rest of the machine was busy during the run (other processes, the idle targets, the harness), in % of one CPU: high values mean a noisy run.\n"
        );
        for &s in &scenarios {
            render_scenario(&mut out, r, s);
        }
    }
    out.push_str(extra);
    if !ctx.notes.is_empty() {
        let _ = writeln!(out, "## Notes\n");
        bullets(&mut out, &ctx.notes);
    }
    out
}

/// One CSV line per sample, for later analysis.
pub fn csv(r: &Results) -> String {
    let mut out = String::from(
        "scenario,target,round,requests,rps,p50_us,p99_us,errors,proxy_cpu_us_per_req,upstream_cpu_us_per_req,other_cpu_pct\n",
    );
    let mut keys: Vec<_> = r.samples.keys().copied().collect();
    keys.sort();
    for (s, t) in keys {
        for x in &r.samples[&(s, t)] {
            let cpu = x.proxy_cpu_us.map_or(String::new(), |v| format!("{v:.3}"));
            let _ = writeln!(
                out,
                "{},{},{},{},{:.1},{:.1},{:.1},{},{cpu},{:.3},{:.1}",
                r.scenarios[s].id,
                r.targets[t],
                x.round,
                x.load.requests,
                x.load.rps,
                x.load.p50_us,
                x.load.p99_us,
                x.load.errors,
                x.upstream_cpu_us,
                x.other_cpu_pct
            );
        }
    }
    out
}
