//! MCP requests handled by the federation, by method, target, tool and result, their
//! durations by method, and the sessions open.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The methods named as themselves; any other is `other`.
const METHODS: [&str; 12] = [
    "initialize",
    "server/discover",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "subscriptions/listen",
];

/// Distinct tool names labelled before the rest are `other`: targets list their tools, and a
/// target listing thousands must not make thousands of series.
const MAX_TOOLS: usize = 256;

const DURATION_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    target: String,
    tool: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// What one MCP request reached: the target (its configured id) and, for `tools/call`, the
/// tool as the target names it.
#[derive(Debug, Default)]
pub struct Reached<'a> {
    pub target: Option<&'a str>,
    pub tool: Option<&'a str>,
}

#[derive(Debug)]
pub struct Mcp {
    requests: Family<RequestLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    sessions: Gauge,
    up: Family<TargetLabels, Gauge>,
    tools: Mutex<HashSet<String>>,
}

impl Mcp {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let this = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            sessions: Gauge::default(),
            up: Family::default(),
            tools: Mutex::default(),
        };
        registry.register(
            "mcp_requests",
            "MCP requests handled, by method, target, tool and result (ok, error).",
            this.requests.clone(),
        );
        registry.register_with_unit(
            "mcp_request_duration",
            "Time to answer an MCP request, by method.",
            Unit::Seconds,
            this.duration.clone(),
        );
        registry.register("mcp_sessions_open", "MCP sessions open now.", this.sessions.clone());
        registry.register(
            "mcp_target_up",
            "Whether each MCP target a request has reached has a live session (1) or not (0).",
            this.up.clone(),
        );
        this
    }

    pub fn record(&self, method: &str, reached: &Reached<'_>, ok: bool, elapsed: Duration) {
        let method = METHODS.iter().find(|m| **m == method).copied().unwrap_or("other");
        let tool = match reached.tool {
            None => "-".to_string(),
            Some(t) => self.tool_label(t),
        };
        let labels = RequestLabels {
            method,
            target: reached.target.unwrap_or("-").to_string(),
            tool,
            result: if ok { "ok" } else { "error" },
        };
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&MethodLabels { method }).observe(elapsed.as_secs_f64());
    }

    /// Sets the sessions gauge (read from the session table at scrape time).
    pub fn set_sessions(&self, open: usize) {
        self.sessions.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Sets the targets' gauges (read from the upstream pool at scrape time); targets no longer
    /// known are dropped.
    pub fn set_targets<'a>(&self, targets: impl IntoIterator<Item = (&'a str, bool)>) {
        self.up.clear();
        for (target, up) in targets {
            self.up.get_or_create(&TargetLabels { target: target.to_string() }).set(i64::from(up));
        }
    }

    fn tool_label(&self, tool: &str) -> String {
        let mut seen = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(tool) {
            return tool.to_string();
        }
        if seen.len() < MAX_TOOLS {
            seen.insert(tool.to_string());
            return tool.to_string();
        }
        "other".to_string()
    }
}
