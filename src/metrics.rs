//! Process-wide counters, rendered as Prometheus text on the admin plane. They live outside the
//! snapshot so they survive reloads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Token counts by (provider, model, class).
type TokenCounts = BTreeMap<(Arc<str>, String, &'static str), u64>;

/// Request counts by (route, backend, status code).
type RequestCounts = BTreeMap<(Arc<str>, Arc<str>, u16), u64>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestCounts>,
    durations: Mutex<BTreeMap<Arc<str>, Histogram>>,
    upstream_errors: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    ai_attempts: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    ai_tokens: Mutex<TokenCounts>,
    ai_cost: Mutex<BTreeMap<(Arc<str>, String), f64>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    config_version: AtomicU64,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn record_request(&self, route: &Arc<str>, backend: &Arc<str>, code: u16, elapsed: Duration) {
        {
            let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *map.entry((route.clone(), backend.clone(), code)).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        let mut map = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let h = map.entry(route.clone()).or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    pub fn record_upstream_error(&self, backend: &Arc<str>, kind: &'static str) {
        let mut map = self.upstream_errors.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((backend.clone(), kind)).or_default() += 1;
    }

    /// One attempt at an AI provider, by outcome (`success`, `failure`, `client_error`).
    pub fn record_ai_attempt(&self, provider: &Arc<str>, outcome: &'static str) {
        let mut map = self.ai_attempts.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((provider.clone(), outcome)).or_default() += 1;
    }

    /// Tokens by provider, model and class, as the provider reported them (or estimated).
    pub fn record_ai_usage(&self, provider: &Arc<str>, model: &str, u: &crate::ai::canonical::Usage) {
        let mut map = self.ai_tokens.lock().unwrap_or_else(|p| p.into_inner());
        if u.estimated {
            *map.entry((provider.clone(), model.to_string(), "estimated_requests")).or_default() += 1;
        }
        for (class, n) in [
            ("input", u.input),
            ("output", u.output),
            ("cache_read", u.cache_read),
            ("cache_creation", u.cache_creation),
            ("reasoning", u.reasoning),
        ] {
            *map.entry((provider.clone(), model.to_string(), class)).or_default() += n;
        }
    }

    /// Cost in USD by provider and model, from the catalog's prices.
    pub fn record_ai_cost(&self, provider: &Arc<str>, model: &str, usd: f64) {
        let mut map = self.ai_cost.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((provider.clone(), model.to_string())).or_default() += usd;
    }

    pub fn record_reload(&self, ok: bool, version: u64) {
        if ok {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
            self.config_version.store(version, Ordering::Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn reloads(&self) -> (u64, u64) {
        (self.reloads_ok.load(Ordering::Relaxed), self.reloads_failed.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sluice_requests_total Requests served, by route, backend and status code.\n");
        out.push_str("# TYPE sluice_requests_total counter\n");
        for ((route, backend, code), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "sluice_requests_total{{route=\"{}\",backend=\"{}\",code=\"{code}\"}} {n}",
                esc(route),
                esc(backend)
            );
        }
        out.push_str("# HELP sluice_request_duration_seconds Time from request to response headers, by route.\n");
        out.push_str("# TYPE sluice_request_duration_seconds histogram\n");
        for (route, h) in self.durations.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let r = esc(route);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "sluice_request_duration_seconds_bucket{{route=\"{r}\",le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(out, "sluice_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "sluice_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(out, "sluice_request_duration_seconds_count{{route=\"{r}\"}} {}", h.count);
        }
        out.push_str("# HELP sluice_upstream_errors_total Failed upstream attempts, by backend and kind.\n");
        out.push_str("# TYPE sluice_upstream_errors_total counter\n");
        for ((backend, kind), n) in self.upstream_errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "sluice_upstream_errors_total{{backend=\"{}\",kind=\"{kind}\"}} {n}", esc(backend));
        }
        out.push_str("# HELP sluice_ai_attempts_total Attempts at AI providers, by outcome.\n");
        out.push_str("# TYPE sluice_ai_attempts_total counter\n");
        for ((provider, outcome), n) in self.ai_attempts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ =
                writeln!(out, "sluice_ai_attempts_total{{provider=\"{}\",outcome=\"{outcome}\"}} {n}", esc(provider));
        }
        out.push_str("# HELP sluice_ai_tokens_total Tokens by provider, model and class.\n");
        out.push_str("# TYPE sluice_ai_tokens_total counter\n");
        for ((provider, model, class), n) in self.ai_tokens.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "sluice_ai_tokens_total{{provider=\"{}\",model=\"{}\",class=\"{class}\"}} {n}",
                esc(provider),
                esc(model)
            );
        }
        out.push_str("# HELP sluice_ai_cost_usd_total Spend by provider and model, from the catalog's prices.\n");
        out.push_str("# TYPE sluice_ai_cost_usd_total counter\n");
        for ((provider, model), usd) in self.ai_cost.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "sluice_ai_cost_usd_total{{provider=\"{}\",model=\"{}\"}} {usd}",
                esc(provider),
                esc(model)
            );
        }
        out.push_str("# HELP sluice_config_reloads_total Configuration loads, by result.\n");
        out.push_str("# TYPE sluice_config_reloads_total counter\n");
        let (ok, failed) = self.reloads();
        let _ = writeln!(out, "sluice_config_reloads_total{{result=\"success\"}} {ok}");
        let _ = writeln!(out, "sluice_config_reloads_total{{result=\"failure\"}} {failed}");
        out.push_str("# HELP sluice_config_version Version of the configuration being served.\n");
        out.push_str("# TYPE sluice_config_version gauge\n");
        let _ = writeln!(out, "sluice_config_version {}", self.config_version.load(Ordering::Relaxed));
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
