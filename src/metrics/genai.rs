//! The OpenTelemetry GenAI metrics (semantic conventions, `gen_ai.client.*` and
//! `gen_ai.server.*`) under the names a Prometheus exporter gives them: dots become
//! underscores, a unit in braces (`{token}`) is dropped and seconds get `_seconds`. Bucket
//! boundaries are the conventions' advice.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];
const DURATION_BUCKETS: [f64; 14] =
    [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const FIRST_TOKEN_BUCKETS: [f64; 16] =
    [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
const PER_TOKEN_BUCKETS: [f64; 13] = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    gen_ai_operation_name: &'static str,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_response_model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    gen_ai_token_type: &'static str,
    gen_ai_operation_name: &'static str,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_response_model: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// One finished call to a model, labelled as the metrics label it: the models are already
/// bounded by the caller (a model outside the configuration is `other`).
#[derive(Debug)]
pub struct Call<'a> {
    /// `chat`, `generate_content`, `embeddings`…
    pub operation: &'static str,
    /// `openai`, `anthropic`, `aws.bedrock`…
    pub provider: &'a str,
    pub request_model: &'a str,
    pub response_model: &'a str,
    /// Input and output tokens, when known (embeddings have no output).
    pub tokens: Option<(u64, Option<u64>)>,
    /// From the request to the answer's end.
    pub duration: Duration,
    /// A streamed answer's first output, from the request.
    pub first_output: Option<Duration>,
}

#[derive(Debug)]
pub struct GenAi {
    token_usage: Histograms<TokenLabels>,
    operation_duration: Histograms<OperationLabels>,
    first_token: Histograms<OperationLabels>,
    per_output_token: Histograms<OperationLabels>,
}

impl GenAi {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let this = Self {
            token_usage: Family::new_with_constructor(|| Histogram::new(TOKEN_BUCKETS)),
            operation_duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            first_token: Family::new_with_constructor(|| Histogram::new(FIRST_TOKEN_BUCKETS)),
            per_output_token: Family::new_with_constructor(|| Histogram::new(PER_TOKEN_BUCKETS)),
        };
        registry.register(
            "gen_ai_client_token_usage",
            "Tokens used per call, by token type (input, output), provider, operation and models.",
            this.token_usage.clone(),
        );
        registry.register_with_unit(
            "gen_ai_client_operation_duration",
            "Duration of a call to a model, from the request to the answer's end.",
            Unit::Seconds,
            this.operation_duration.clone(),
        );
        registry.register_with_unit(
            "gen_ai_server_time_to_first_token",
            "Time from the request to a streamed answer's first output.",
            Unit::Seconds,
            this.first_token.clone(),
        );
        registry.register_with_unit(
            "gen_ai_server_time_per_output_token",
            "Time per output token after the first, in streamed answers.",
            Unit::Seconds,
            this.per_output_token.clone(),
        );
        this
    }

    pub fn record(&self, call: &Call<'_>) {
        let op = OperationLabels {
            gen_ai_operation_name: call.operation,
            gen_ai_provider_name: call.provider.to_string(),
            gen_ai_request_model: call.request_model.to_string(),
            gen_ai_response_model: call.response_model.to_string(),
        };
        self.operation_duration.get_or_create(&op).observe(call.duration.as_secs_f64());
        if let Some(first) = call.first_output {
            self.first_token.get_or_create(&op).observe(first.as_secs_f64());
            if let Some((_, Some(output))) = call.tokens
                && output > 1
            {
                let rest = call.duration.saturating_sub(first).as_secs_f64();
                self.per_output_token.get_or_create(&op).observe(rest / (output - 1) as f64);
            }
        }
        if let Some((input, output)) = call.tokens {
            for (kind, n) in [("input", input)].into_iter().chain(output.map(|o| ("output", o))) {
                let labels = TokenLabels {
                    gen_ai_token_type: kind,
                    gen_ai_operation_name: op.gen_ai_operation_name,
                    gen_ai_provider_name: op.gen_ai_provider_name.clone(),
                    gen_ai_request_model: op.gen_ai_request_model.clone(),
                    gen_ai_response_model: op.gen_ai_response_model.clone(),
                };
                self.token_usage.get_or_create(&labels).observe(n as f64);
            }
        }
    }
}
