//! Process-wide metrics, rendered as OpenMetrics text on the admin plane (docs/observability.md).
//! They live outside the snapshot so they survive reloads. Every label value is bounded: routes,
//! backends, providers, guards and targets come from the configuration, models outside it are
//! `other`, and nothing a client sends becomes a label as it is.

pub mod access_log;
mod genai;
mod http;
mod mcp;
pub mod trace;
pub mod usage;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use genai::{Call, GenAi};
pub use http::{ListenerSeries, Series};
pub use mcp::{Mcp, Reached};

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendKind {
    backend: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderOutcome {
    provider: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Provider {
    provider: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Backend {
    backend: String,
}

/// Bounds of the upstream connect histogram, in seconds.
const CONNECT_BUCKETS: [f64; 10] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenClass {
    provider: Arc<str>,
    model: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderModel {
    provider: Arc<str>,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodResult {
    method: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageCheck {
    stage: &'static str,
    check: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuardAction {
    guard: String,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadResult {
    result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Arc<http::Requests>,
    upstream_errors: Family<BackendKind, Counter>,
    ai_attempts: Family<ProviderOutcome, Counter>,
    ai_ejections: Family<Provider, Counter>,
    upstream_connects: Family<
        Backend,
        prometheus_client::metrics::histogram::Histogram,
        fn() -> prometheus_client::metrics::histogram::Histogram,
    >,
    ai_tokens: Family<TokenClass, Counter>,
    ai_cost: Family<ProviderModel, Counter<f64, AtomicU64>>,
    /// Admission decisions by authentication method and result (bounded: both are fixed words).
    policy_decisions: Family<MethodResult, Counter>,
    /// Decisions after admission by stage, check and result (all fixed words).
    stage_decisions: Family<StageCheck, Counter>,
    /// Guard decisions by guard (names from the configuration) and action.
    guard_decisions: Family<GuardAction, Counter>,
    reloads: Family<ReloadResult, Counter>,
    config_version: Gauge,
    /// The GenAI semantic conventions' metrics.
    pub genai: GenAi,
    /// MCP requests and sessions.
    pub mcp: Mcp,
    /// Tokens and spend by identity (bounded; never labels).
    pub usage: usage::Usage,
    /// Where access log lines go.
    pub access_logs: access_log::Sinks,
    /// The tracer, once traces are turned on (`sluice run --otlp-endpoint`).
    pub tracing: std::sync::OnceLock<trace::Tracing>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Arc::new(http::Requests::default());
        registry.register_collector(Box::new(requests.clone()));
        let genai = GenAi::new(&mut registry);
        let mcp = Mcp::new(&mut registry);
        let this = Self {
            registry,
            requests,
            upstream_errors: Family::default(),
            ai_attempts: Family::default(),
            ai_ejections: Family::default(),
            upstream_connects: Family::new_with_constructor(|| {
                prometheus_client::metrics::histogram::Histogram::new(CONNECT_BUCKETS)
            }),
            ai_tokens: Family::default(),
            ai_cost: Family::default(),
            policy_decisions: Family::default(),
            guard_decisions: Family::default(),
            stage_decisions: Family::default(),
            reloads: Family::default(),
            config_version: Gauge::default(),
            genai,
            mcp,
            usage: usage::Usage::default(),
            access_logs: access_log::Sinks::default(),
            tracing: std::sync::OnceLock::new(),
        };
        let mut registry = this.registry;
        registry.register(
            "sluice_upstream_errors",
            "Failed upstream attempts, by backend and kind.",
            this.upstream_errors.clone(),
        );
        registry.register(
            "sluice_policy_decisions",
            "Admission decisions, by authentication method and result.",
            this.policy_decisions.clone(),
        );
        registry.register(
            "sluice_policy_stage_decisions",
            "Policy decisions after admission, by stage (model, tool_call), check (model_access, budget, \
             rate_limit) and result (allowed, forbidden, rate_limited, unavailable).",
            this.stage_decisions.clone(),
        );
        registry.register(
            "sluice_guard_decisions",
            "Guard decisions, by guard and action.",
            this.guard_decisions.clone(),
        );
        registry.register("sluice_ai_attempts", "Attempts at AI providers, by outcome.", this.ai_attempts.clone());
        registry.register(
            "sluice_ai_provider_ejections",
            "AI providers taken out of rotation after failures (or a Retry-After), by provider.",
            this.ai_ejections.clone(),
        );
        registry.register_with_unit(
            "sluice_upstream_connect_duration",
            "Time to open a connection to a backend (TCP, TLS and the HTTP/2 handshake), by backend.",
            prometheus_client::registry::Unit::Seconds,
            this.upstream_connects.clone(),
        );
        registry.register(
            "sluice_ai_tokens",
            "Tokens by provider, model and class (input, output, cache_read, cache_creation, reasoning; \
             estimated_requests counts answers whose usage Sluice estimated).",
            this.ai_tokens.clone(),
        );
        registry.register(
            "sluice_ai_cost_usd",
            "Spend in US dollars by provider and model, from the catalog's prices.",
            this.ai_cost.clone(),
        );
        registry.register(
            "sluice_access_log_dropped",
            "Access log lines dropped because their destination was behind or could not be opened.",
            this.access_logs.dropped(),
        );
        registry.register("sluice_config_reloads", "Configuration loads, by result.", this.reloads.clone());
        registry.register(
            "sluice_config_version",
            "Version of the configuration being served.",
            this.config_version.clone(),
        );
        // Both results are shown from the start, as zero until one happens.
        for result in ["success", "failure"] {
            drop(this.reloads.get_or_create(&ReloadResult { result }));
        }
        Self { registry, ..this }
    }
}

impl Metrics {
    /// The counters of a (route, backend) pair, created on first use. Callers cache the result.
    pub fn series(&self, route: &Arc<str>, backend: &Arc<str>) -> Arc<Series> {
        self.requests.series(route, backend)
    }

    /// The counters of a Gateway's listener, created on first use. Callers cache the result.
    pub fn listener(&self, gateway: &Arc<str>, listener: &str) -> Arc<ListenerSeries> {
        self.requests.listener(gateway, listener)
    }

    pub fn record_upstream_error(&self, backend: &Arc<str>, kind: &'static str) {
        self.upstream_errors.get_or_create(&BackendKind { backend: backend.clone(), kind }).inc();
    }

    /// One attempt at an AI provider, by outcome (`success`, `failure`, `client_error`).
    pub fn record_ai_attempt(&self, provider: &Arc<str>, outcome: &'static str) {
        self.ai_attempts.get_or_create(&ProviderOutcome { provider: provider.clone(), outcome }).inc();
    }

    /// A provider taken out of rotation.
    pub fn record_ejection(&self, provider: &Arc<str>) {
        self.ai_ejections.get_or_create(&Provider { provider: provider.clone() }).inc();
    }

    /// A connection opened to a backend (`backend`: its pool key, from the configuration).
    pub fn record_connect(&self, backend: &str, elapsed: std::time::Duration) {
        self.upstream_connects.get_or_create(&Backend { backend: backend.to_string() }).observe(elapsed.as_secs_f64());
    }

    /// Tokens by provider, model and class (`input`, `output`, `cache_read`…), as the provider
    /// reported them, or estimated (then counted in `estimated_requests` too).
    pub fn record_ai_usage(&self, provider: &Arc<str>, model: &str, classes: &[(&'static str, u64)], estimated: bool) {
        let label = |class| TokenClass { provider: provider.clone(), model: model.to_string(), class };
        if estimated {
            self.ai_tokens.get_or_create(&label("estimated_requests")).inc();
        }
        for &(class, n) in classes {
            self.ai_tokens.get_or_create(&label(class)).inc_by(n);
        }
    }

    /// Cost in USD by provider and model, from the catalog's prices.
    pub fn record_ai_cost(&self, provider: &Arc<str>, model: &str, usd: f64) {
        self.ai_cost.get_or_create(&ProviderModel { provider: provider.clone(), model: model.to_string() }).inc_by(usd);
    }

    pub fn record_reload(&self, ok: bool, version: u64) {
        self.reloads.get_or_create(&ReloadResult { result: if ok { "success" } else { "failure" } }).inc();
        if ok {
            self.config_version.set(i64::try_from(version).unwrap_or(i64::MAX));
        }
    }

    /// One admission decision of the policy layer: `method` (api_key, jwt, basic, external,
    /// anonymous, or `-` when refused before an identity) and `result` (allowed,
    /// unauthenticated, forbidden, unavailable).
    pub fn record_policy(&self, method: &'static str, result: &'static str) {
        self.policy_decisions.get_or_create(&MethodResult { method, result }).inc();
    }

    /// A decision of the policy layer after admission: at the `model` stage (`model_access`,
    /// `budget`, `rate_limit`) or the `tool_call` stage (`rate_limit`), `allowed` or the
    /// refusal's outcome.
    pub fn record_stage(&self, stage: &'static str, check: &'static str, result: &'static str) {
        self.stage_decisions.get_or_create(&StageCheck { stage, check, result }).inc();
    }

    /// A guard's decision: counted, and logged as one line (the guard and the action, never the
    /// text it matched).
    pub fn record_guard(&self, guard: &str, action: &'static str) {
        tracing::info!(target: "sluice::guards", guard, action, "guard decision");
        self.guard_decisions.get_or_create(&GuardAction { guard: guard.to_string(), action }).inc();
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]), ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}
