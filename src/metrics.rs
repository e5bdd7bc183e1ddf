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

/// The request series by (route, backend).
type SeriesMap = BTreeMap<(Arc<str>, Arc<str>), Arc<Series>>;

/// Token counts by (provider, model, class).
type TokenCounts = BTreeMap<(Arc<str>, String, &'static str), u64>;

/// Status codes counted without a lock; any other code goes to a small locked map.
const COMMON_CODES: [u16; 24] = [
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 413, 421, 429, 500, 502, 503,
    504,
];

/// The counters of one (route, backend) pair: codes and a duration histogram, all atomics, so
/// recording a request takes no lock. Found once per snapshot object and cached there.
pub struct Series {
    route: Arc<str>,
    backend: Arc<str>,
    codes: [AtomicU64; COMMON_CODES.len()],
    other_codes: Mutex<BTreeMap<u16, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Series {
    fn new(route: Arc<str>, backend: Arc<str>) -> Self {
        Self {
            route,
            backend,
            codes: Default::default(),
            other_codes: Mutex::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn record(&self, code: u16, elapsed: Duration) {
        match COMMON_CODES.iter().position(|c| *c == code) {
            Some(i) => {
                self.codes[i].fetch_add(1, Ordering::Relaxed);
            }
            None => *self.other_codes.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1,
        }
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<SeriesMap>,
    upstream_errors: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    ai_attempts: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    ai_tokens: Mutex<TokenCounts>,
    ai_cost: Mutex<BTreeMap<(Arc<str>, String), f64>>,
    /// Admission decisions by authentication method and result (bounded: both are fixed words).
    policy_decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Guard decisions by guard (names from the configuration) and action.
    guard_decisions: Mutex<BTreeMap<(String, &'static str), u64>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    config_version: AtomicU64,
}

impl Metrics {
    /// The counters of a (route, backend) pair, created on first use. Callers cache the result.
    pub fn series(&self, route: &Arc<str>, backend: &Arc<str>) -> Arc<Series> {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((route.clone(), backend.clone()))
            .or_insert_with(|| Arc::new(Series::new(route.clone(), backend.clone())))
            .clone()
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

    /// Tokens by provider, model and class (`input`, `output`, `cache_read`…), as the provider
    /// reported them, or estimated (then counted in `estimated_requests` too).
    pub fn record_ai_usage(&self, provider: &Arc<str>, model: &str, classes: &[(&'static str, u64)], estimated: bool) {
        let mut map = self.ai_tokens.lock().unwrap_or_else(|p| p.into_inner());
        if estimated {
            *map.entry((provider.clone(), model.to_string(), "estimated_requests")).or_default() += 1;
        }
        for &(class, n) in classes {
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

    /// One admission decision of the policy layer: `method` (api_key, jwt, basic, external,
    /// anonymous, or `-` when refused before an identity) and `result` (allowed,
    /// unauthenticated, forbidden, unavailable).
    pub fn record_policy(&self, method: &'static str, result: &'static str) {
        *self.policy_decisions.lock().unwrap_or_else(|p| p.into_inner()).entry((method, result)).or_default() += 1;
    }

    /// A guard masked or refused something (never what it matched).
    /// A guard's decision: counted, and logged as one line (the guard and the action, never the
    /// text it matched) until the access log carries it.
    pub fn record_guard(&self, guard: &str, action: &'static str) {
        tracing::info!(target: "sluice::guards", guard, action, "guard decision");
        let mut map = self.guard_decisions.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((guard.to_string(), action)).or_default() += 1;
    }

    pub fn reloads(&self) -> (u64, u64) {
        (self.reloads_ok.load(Ordering::Relaxed), self.reloads_failed.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let series: Vec<Arc<Series>> =
            self.series.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        out.push_str("# HELP sluice_requests_total Requests served, by route, backend and status code.\n");
        out.push_str("# TYPE sluice_requests_total counter\n");
        for s in &series {
            let (route, backend) = (esc(&s.route), esc(&s.backend));
            let mut codes: BTreeMap<u16, u64> = s.other_codes.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for (i, c) in COMMON_CODES.iter().enumerate() {
                let n = s.codes[i].load(Ordering::Relaxed);
                if n > 0 {
                    codes.insert(*c, n);
                }
            }
            for (code, n) in codes {
                let _ = writeln!(
                    out,
                    "sluice_requests_total{{route=\"{route}\",backend=\"{backend}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP sluice_request_duration_seconds Time from request to response headers, by route.\n");
        out.push_str("# TYPE sluice_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<&str, ([u64; BUCKETS.len()], u64, u64)> = BTreeMap::new();
        for s in &series {
            let e = by_route.entry(&s.route).or_default();
            for (i, b) in s.buckets.iter().enumerate() {
                e.0[i] += b.load(Ordering::Relaxed);
            }
            e.1 += s.count.load(Ordering::Relaxed);
            e.2 += s.sum_micros.load(Ordering::Relaxed);
        }
        for (route, (buckets, count, sum_micros)) in by_route {
            let r = esc(route);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += buckets[i];
                let _ = writeln!(
                    out,
                    "sluice_request_duration_seconds_bucket{{route=\"{r}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "sluice_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "sluice_request_duration_seconds_sum{{route=\"{r}\"}} {}", sum_micros as f64 / 1e6);
            let _ = writeln!(out, "sluice_request_duration_seconds_count{{route=\"{r}\"}} {count}");
        }
        out.push_str("# HELP sluice_upstream_errors_total Failed upstream attempts, by backend and kind.\n");
        out.push_str("# TYPE sluice_upstream_errors_total counter\n");
        for ((backend, kind), n) in self.upstream_errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "sluice_upstream_errors_total{{backend=\"{}\",kind=\"{kind}\"}} {n}", esc(backend));
        }
        out.push_str(
            "# HELP sluice_policy_decisions_total Admission decisions, by authentication method and result.\n",
        );
        out.push_str("# TYPE sluice_policy_decisions_total counter\n");
        for ((method, result), n) in self.policy_decisions.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "sluice_policy_decisions_total{{method=\"{method}\",result=\"{result}\"}} {n}");
        }
        out.push_str("# HELP sluice_guard_decisions_total Guard decisions, by guard and action.\n");
        out.push_str("# TYPE sluice_guard_decisions_total counter\n");
        for ((guard, action), n) in self.guard_decisions.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "sluice_guard_decisions_total{{guard=\"{}\",action=\"{action}\"}} {n}", esc(guard));
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
