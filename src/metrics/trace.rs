//! Traces: OpenTelemetry spans exported over OTLP/HTTP (protobuf) by the `opentelemetry-otlp`
//! exporter with its reqwest client, in batches from a thread of its own. Off unless
//! `sluice run --otlp-endpoint` is given; off, a request pays one branch. A client's W3C
//! `traceparent` is honoured (its sampling decision too: the sampler is parent-based, with the
//! configured ratio for new traces), and the gateway's own span is what the upstream sees as its
//! parent.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

pub use opentelemetry::KeyValue as Attribute;
pub use opentelemetry::trace::SpanKind as Kind;

/// How long one export may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's tracer, when traces are on.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Tracing {
    /// Spans sent by `client` to `endpoint` (the full URL, `http://collector:4318/v1/traces`),
    /// new traces sampled at `ratio` (0 to 1). The client is the caller's: its TLS settings are
    /// the process's.
    pub fn otlp(endpoint: &str, ratio: f64, client: reqwest::blocking::Client) -> Result<Self, String> {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("the trace sampling ratio {ratio} is not between 0 and 1"));
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("the OTLP exporter for {endpoint}: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))))
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .with_resource(Resource::builder_empty().with_service_name("sluice").build())
            .build();
        let tracer = provider.tracer("sluice");
        Ok(Tracing { provider, tracer })
    }

    /// A server span for a request received: the child of the client's `traceparent` when it
    /// sent one, else the root of a new trace.
    pub fn request(&self, headers: &HeaderMap, name: String, attributes: Vec<KeyValue>) -> TraceSpan {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        self.start(&parent, name, SpanKind::Server, attributes)
    }

    fn start(&self, parent: &Context, name: String, kind: SpanKind, attributes: Vec<KeyValue>) -> TraceSpan {
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, parent);
        TraceSpan { cx: parent.with_span(span), tracer: self.tracer.clone() }
    }

    /// Sends what is waiting (tests; a graceful stop).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "traces could not be flushed");
        }
    }
}

/// A span under way; it ends when [`TraceSpan::end`] is called or the last clone is dropped.
#[derive(Clone, Debug)]
pub struct TraceSpan {
    cx: Context,
    tracer: SdkTracer,
}

impl TraceSpan {
    /// A child span.
    pub fn child(&self, name: String, kind: SpanKind, attributes: Vec<KeyValue>) -> TraceSpan {
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &self.cx);
        TraceSpan { cx: self.cx.with_span(span), tracer: self.tracer.clone() }
    }

    pub fn set(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    pub fn rename(&self, name: String) {
        self.cx.span().update_name(name);
    }

    pub fn event(&self, name: &'static str, attributes: Vec<KeyValue>) {
        self.cx.span().add_event(name, attributes);
    }

    /// Marks the span failed, with `why` (no secret: the caller's words).
    pub fn fail(&self, why: String) {
        self.cx.span().set_status(Status::error(why));
    }

    /// Writes this span as the parent of what is sent with `headers` (`traceparent`,
    /// `tracestate`), replacing what was there.
    pub fn inject(&self, headers: &mut HeaderMap) {
        headers.remove("traceparent");
        headers.remove("tracestate");
        TraceContextPropagator::new().inject_context(&self.cx, &mut HeadersMut(headers));
    }

    /// This span as a parent, as W3C trace context keys (`traceparent`, `tracestate` when
    /// there is one): for carriers other than headers, such as MCP's `_meta`.
    pub fn context_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Pairs(Vec::new());
        TraceContextPropagator::new().inject_context(&self.cx, &mut pairs);
        pairs.0
    }

    pub fn end(&self) {
        self.cx.span().end();
    }
}

/// An attribute whose value is a list of strings.
pub fn strings(key: &'static str, values: impl IntoIterator<Item = String>) -> KeyValue {
    let values: Vec<opentelemetry::StringValue> = values.into_iter().map(Into::into).collect();
    KeyValue::new(key, opentelemetry::Value::Array(values.into()))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

struct Pairs(Vec<(String, String)>);

impl Injector for Pairs {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}
