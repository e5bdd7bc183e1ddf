//! P6: configuration at scale. Two measures:
//! - **load time**: `sluice check` (read, parse, validate and translate to the snapshot) of a
//!   file with 10,000 HTTPRoutes, beside `nginx -t` of 10,000 `location` blocks;
//! - **routing cost**: CPU µs per request through a proxy holding 10 routes against the same
//!   proxy holding 10,000 (wrk, 32 connections), for Sluice and nginx. Each route `/r<i>/`
//!   is a path prefix; the request goes to `/r0/bytes/1024`, whose route is the shortest
//!   prefix: the last one a longest-prefix-first scan would reach.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::report::{Metric, Results, Spread, fmt_ratio};

/// The route counts compared.
pub const FEW: usize = 10;
pub const MANY: usize = 10_000;
/// The request path of the routing scenario.
pub const PATH: &str = "/r0/bytes/1024";

/// Sluice's configuration: the bench gateway, the upstream Service and `routes` HTTPRoutes.
pub fn sluice_conf(gateway: &str, up: u16, routes: usize) -> String {
    let mut s = String::with_capacity(routes * 260 + 1024);
    s.push_str(gateway);
    s.push_str(&crate::targets::upstream_service(up));
    for i in 0..routes {
        let _ = write!(
            s,
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r{i}, namespace: default}}\n\
             spec:\n  parentRefs: [{{name: bench}}]\n  rules:\n\
             \x20   - matches: [{{path: {{type: PathPrefix, value: /r{i}/}}}}]\n\
             \x20     backendRefs: [{{name: upstream, port: 80}}]\n"
        );
    }
    s
}

/// nginx's `location` blocks for `routes` prefixes, each proxying like the P1 nginx.
pub fn nginx_locations(routes: usize) -> String {
    (0..routes).map(|i| crate::targets::nginx_location(&format!("/r{i}/"))).collect()
}

/// Wall times of loading the 10k-route configuration, in milliseconds.
#[derive(Default)]
pub struct LoadTimes {
    pub sluice_ms: Vec<f64>,
    pub nginx_ms: Vec<f64>,
    pub failures: Vec<String>,
}

fn time(argv: &[String]) -> Result<f64, String> {
    let start = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} failed: {}", argv.join(" "), err.lines().last().unwrap_or("")));
    }
    Ok(ms)
}

/// Times `sluice check` of `sluice_file` and `nginx -t` of `nginx_file`, `rounds` times each.
pub fn load_times(sluice: &Path, sluice_file: &Path, nginx_file: Option<(&Path, &Path)>, rounds: usize) -> LoadTimes {
    let mut lt = LoadTimes::default();
    for _ in 0..rounds {
        let argv =
            vec![sluice.display().to_string(), "check".into(), "--config".into(), sluice_file.display().to_string()];
        match time(&argv) {
            Ok(ms) => lt.sluice_ms.push(ms),
            Err(e) => lt.failures.push(e),
        }
        if let Some((dir, conf)) = nginx_file {
            let argv = vec![
                "nginx".into(),
                "-t".into(),
                "-q".into(),
                "-p".into(),
                dir.display().to_string(),
                "-e".into(),
                dir.join("error.log").display().to_string(),
                "-c".into(),
                conf.display().to_string(),
            ];
            match time(&argv) {
                Ok(ms) => lt.nginx_ms.push(ms),
                Err(e) => lt.failures.push(e),
            }
        }
    }
    lt
}

/// The P6 section of `RESULTS.md`.
pub fn render(out: &mut String, r: &Results, lt: Option<&LoadTimes>) {
    let s = r.scenarios.iter().position(|x| x.group == "P6");
    if s.is_none() && lt.is_none() {
        return;
    }
    let _ = writeln!(out, "### P6: configuration at scale\n");
    if let Some(lt) = lt {
        let _ = writeln!(
            out,
            "Load of {MANY} HTTPRoutes (`sluice check`: read, parse, validate, translate to the snapshot; wall time of the whole process) beside `nginx -t` of {MANY} `location` blocks:\n"
        );
        let _ = writeln!(out, "| Proxy | wall time, median (range) | Target | Met |");
        let _ = writeln!(out, "|---|---|---|---|");
        let ms = |v: f64| format!("{v:.0} ms");
        if let Some(sp) = Spread::of(lt.sluice_ms.clone()) {
            let met = if sp.median <= 1000.0 { "yes" } else { "**no**" };
            let _ = writeln!(out, "| sluice | {} | ≤ 1 s | {met} |", sp.show(ms));
        }
        if let Some(sp) = Spread::of(lt.nginx_ms.clone()) {
            let _ = writeln!(out, "| nginx | {} | — | — |", sp.show(ms));
        }
        for f in &lt.failures {
            let _ = writeln!(out, "\nFailed: {f}");
        }
        out.push('\n');
    }
    let Some(s) = s else { return };
    let _ = writeln!(
        out,
        "Routing cost: CPU µs/req with {MANY} routes ÷ with {FEW} routes, same proxy, same round (`{}`):\n",
        r.scenarios[s].id
    );
    let _ = writeln!(out, "| Proxy | {FEW} routes CPU µs/req | {MANY} routes CPU µs/req | ratio | Target | Met |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for proxy in ["sluice", "nginx"] {
        let (Some(few), Some(many)) =
            (r.target_index(&format!("{proxy}-r10")), r.target_index(&format!("{proxy}-r10k")))
        else {
            continue;
        };
        let cpu = |t| r.spread(s, t, Metric::Cpu).map_or("—".into(), |sp| sp.show(|v| format!("{v:.1}")));
        let ratio = r.ratio(s, many, few, Metric::Cpu);
        let (shown, met) = match (ratio, proxy) {
            (Some(q), "sluice") => (q.show(fmt_ratio), if q.median <= 2.0 { "yes" } else { "**no**" }),
            (Some(q), _) => (q.show(fmt_ratio), "—"),
            (None, _) => ("—".into(), "—"),
        };
        let target = if proxy == "sluice" { "≤ 2.00×" } else { "—" };
        let _ = writeln!(out, "| {proxy} | {} | {} | {shown} | {target} | {met} |", cpu(few), cpu(many));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_have_the_routes() {
        let c = sluice_conf("# gateway\n", 9, 3);
        assert_eq!(c.matches("kind: HTTPRoute").count(), 3);
        assert!(c.contains("value: /r2/"));
        assert_eq!(nginx_locations(4).matches("location /r").count(), 4);
    }
}
