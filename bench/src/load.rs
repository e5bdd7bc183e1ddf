//! Load generators: `wrk` for HTTP/1.1 and `h2load` for h2c, run for a fixed duration on the
//! load CPU, with their output parsed into one [`LoadResult`].

use std::path::Path;
use std::time::Duration;

use crate::procs::{Proc, Spawn};

/// What one load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Responses completed.
    pub requests: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Failed requests: socket errors and non-2xx/3xx responses (wrk), failed/errored/timed out (h2load).
    pub errors: u64,
}

/// One load run's shape.
#[derive(Clone, Debug)]
pub struct Load {
    pub url: String,
    pub connections: u32,
    /// h2 streams per connection (`h2load -m`); `None` for HTTP/1.1 with wrk.
    pub h2_streams: Option<u32>,
    pub duration: Duration,
    /// A wrk Lua script (`-s`), for requests other than a plain GET.
    pub script: Option<std::path::PathBuf>,
}

impl Load {
    /// The command line, without CPU pinning.
    pub fn argv(&self, h2_log: &Path) -> Vec<String> {
        // wrk takes whole seconds only; h2load takes milliseconds.
        let secs = format!("{}ms", self.duration.as_millis());
        let c = self.connections.to_string();
        match self.h2_streams {
            None => {
                let d = format!("{}s", self.duration.as_secs().max(1));
                let mut v: Vec<String> = ["wrk", "-t1", "-c", &c, "-d", &d, "--latency"].map(String::from).to_vec();
                if let Some(s) = &self.script {
                    v.extend(["-s".to_string(), s.display().to_string()]);
                }
                v.push(self.url.clone());
                v
            }
            Some(m) => {
                let m = m.to_string();
                let log = h2_log.display().to_string();
                ["h2load", "-t1", "-c", &c, "-m", &m, "-D", &secs, "--log-file", &log, &self.url]
                    .map(String::from)
                    .to_vec()
            }
        }
    }

    /// Runs the load on `cpus` and parses what it reports. `scratch` is a directory for its files.
    pub fn run(&self, cpus: Option<&str>, scratch: &Path) -> Result<LoadResult, String> {
        let h2_log = scratch.join("h2load-requests.tsv");
        let out_path = scratch.join("load-output.txt");
        let _ = std::fs::remove_file(&h2_log);
        let _ = std::fs::remove_file(&out_path);
        let tool = if self.h2_streams.is_some() { "h2load" } else { "wrk" };
        let mut p =
            Proc::spawn(Spawn { name: tool, argv: self.argv(&h2_log), cpus, env: Vec::new(), log: Some(&out_path) })?;
        if !p.wait_until(self.duration + Duration::from_secs(30)) {
            return Err(format!("{tool} did not finish in time"));
        }
        let out = std::fs::read_to_string(&out_path).map_err(|e| format!("reading {tool} output: {e}"))?;
        let mut r = match self.h2_streams {
            None => parse_wrk(&out),
            Some(_) => parse_h2load(&out),
        }
        .ok_or_else(|| format!("cannot parse {tool} output:\n{out}"))?;
        if self.h2_streams.is_some() {
            let log = std::fs::read_to_string(&h2_log).unwrap_or_default();
            let mut lat: Vec<f64> = log.lines().filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok()).collect();
            lat.sort_by(f64::total_cmp);
            r.p50_us = percentile(&lat, 0.50);
            r.p99_us = percentile(&lat, 0.99);
        }
        Ok(r)
    }
}

/// The value at quantile `q` of sorted samples (nearest rank); NaN when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `"1.23ms"` → 1230.0 (microseconds).
fn duration_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let mult = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some(v * mult)
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(out: &str) -> Option<LoadResult> {
    let mut r = LoadResult::default();
    let (mut have_reqs, mut have_rps) = (false, false);
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("50%") {
            r.p50_us = duration_us(v)?;
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_us = duration_us(v)?;
        } else if t.contains(" requests in ") {
            r.requests = t.split_whitespace().next()?.parse().ok()?;
            have_reqs = true;
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().ok()?;
            have_rps = true;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().ok()?;
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            r.errors += v.split(',').filter_map(|kv| kv.split_whitespace().last()?.parse::<u64>().ok()).sum::<u64>();
        }
    }
    (have_reqs && have_rps).then_some(r)
}

/// Parses `h2load` output (latency percentiles come from its per-request log instead).
pub fn parse_h2load(out: &str) -> Option<LoadResult> {
    let mut r = LoadResult::default();
    let (mut have_reqs, mut have_rps) = (false, false);
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("finished in ") {
            let rps = v.split(',').nth(1)?.trim().strip_suffix(" req/s")?;
            r.rps = rps.trim().parse().ok()?;
            have_rps = true;
        } else if let Some(v) = t.strip_prefix("requests:") {
            let field = |name: &str| {
                v.split(',').find_map(|kv| kv.trim().strip_suffix(name)?.trim().parse::<u64>().ok()).unwrap_or(0)
            };
            r.requests = field("succeeded");
            r.errors += field("failed") + field("errored") + field("timeout");
            have_reqs = true;
        }
    }
    (have_reqs && have_rps).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk() {
        let out = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 1 connections\n  Latency Distribution\n     50%   31.00us\n     75%   40.00us\n     90%   50.00us\n     99%    1.20ms\n  40000 requests in 2.00s, 45.00MB read\n  Socket errors: connect 0, read 1, write 0, timeout 2\n  Non-2xx or 3xx responses: 3\nRequests/sec:  20000.50\nTransfer/sec:     22.50MB\n";
        let r = parse_wrk(out).expect("parse");
        assert_eq!(r.requests, 40000);
        assert_eq!(r.errors, 6);
        assert!((r.p50_us - 31.0).abs() < 1e-9 && (r.p99_us - 1200.0).abs() < 1e-9);
        assert!((r.rps - 20000.5).abs() < 1e-9);
    }

    #[test]
    fn parses_h2load() {
        let out = "finished in 2.00s, 15000.00 req/s, 16.00MB/s\nrequests: 30000 total, 30010 started, 30000 done, 29990 succeeded, 10 failed, 0 errored, 0 timeout\nstatus codes: 29990 2xx, 0 3xx, 0 4xx, 10 5xx\n";
        let r = parse_h2load(out).expect("parse");
        assert_eq!(r.requests, 29990);
        assert_eq!(r.errors, 10);
        assert!((r.rps - 15000.0).abs() < 1e-9);
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
    }
}
