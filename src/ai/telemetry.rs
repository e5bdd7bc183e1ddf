//! What the AI pipeline reports of one call to a model: the OpenTelemetry GenAI metrics, with
//! the call's timings read off the answer's body as it goes out. Model labels are bounded: a
//! model is named only when the configuration or the catalog names it exactly, else `other`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::Response;

use super::canonical::{ChatRequest, Part, Role, Usage};
use super::frontdoor::ClientFormat;
use crate::httpkit::body::ProxyBody;
use crate::httpkit::observe;
use crate::ir::ai::{AiBackendIr, AiProviderIr};
use crate::metrics::access_log::{Fields, Line, Note};
use crate::metrics::trace::{self, Attribute, Kind, TraceSpan};
use crate::metrics::{Call, Metrics};

/// What the provider that answered was asked for (the model as labelled, and as named), the
/// usage it reported and what that cost.
pub struct Served {
    pub model_label: Arc<str>,
    pub model: String,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    /// Why the answer stopped (`stop`, `length`, `tool_calls`…).
    pub finish_reason: Option<String>,
}

/// One call to a model, from the request to the answer's end.
pub struct CallReport {
    started: Instant,
    operation: &'static str,
    /// The model the client asked for, as labelled and as named.
    request_model: Arc<str>,
    requested: String,
    stream: bool,
    /// The provider that answered (as the GenAI conventions name it), and what it reported.
    served: Mutex<Option<(&'static str, Served)>>,
    /// The call's span (GenAI conventions), when traces are on.
    span: Option<TraceSpan>,
    /// Who asked (the policy layer's identity), for usage by identity.
    identity: Option<String>,
    /// The prompt's last user turn, truncated, when the route's access log asks for it.
    prompt: Option<String>,
    /// Attempts at providers, and the answering one's wait for its response head.
    attempts: std::sync::atomic::AtomicU32,
    upstream: Mutex<Option<std::time::Duration>>,
}

/// What the client's door calls the operation (the GenAI conventions' `gen_ai.operation.name`).
pub fn operation(format: ClientFormat) -> &'static str {
    match format {
        ClientFormat::OpenAi | ClientFormat::Anthropic | ClientFormat::Responses => "chat",
        ClientFormat::Gemini => "generate_content",
    }
}

/// The GenAI conventions' name of a catalog provider (`gen_ai.provider.name`); a catalog entry
/// without one is named as the catalog names it.
fn provider_name(catalog: &str) -> &'static str {
    match catalog {
        "bedrock" => "aws.bedrock",
        "vertex" => "gcp.vertex_ai",
        "gemini" => "gcp.gemini",
        "azure-openai" => "azure.ai.openai",
        "azure-ai-foundry" => "azure.ai.inference",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        // The catalog's own names, which are data: as it names them.
        other => crate::catalog::catalog().provider(other).map_or("other", |c| c.name.as_str()),
    }
}

/// `model` when the configuration (a backend's exact model rule or alias target, a provider's
/// model) or the catalog names it exactly; else `other`.
pub fn model_label(backends: &[Arc<AiBackendIr>], model: &str) -> Arc<str> {
    let configured = backends.iter().any(|b| {
        b.models.iter().any(|m| (!m.pattern.ends_with('*') && m.pattern == model) || m.target.as_deref() == Some(model))
            || b.groups.iter().flatten().any(|p| {
                p.model.as_deref() == Some(model)
                    || crate::catalog::catalog().provider(&p.catalog).is_some_and(|c| c.names_exactly(model))
            })
    });
    Arc::from(if configured { model } else { "other" })
}

impl CallReport {
    /// A call of `operation` (`chat`, `embeddings`…; see [`operation`]) to `model`; `prompt`,
    /// the request as sent on (after guards masked it), for an access log that logs prompts.
    pub fn new(
        ctx: &super::Ctx<'_>,
        operation: &'static str,
        (model, stream): (&str, bool),
        prompt: Option<&ChatRequest>,
    ) -> Arc<Self> {
        let logs_prompt = ctx.admitted.and_then(|a| a.policy.access_log.as_ref()).is_some_and(|l| l.prompt);
        let span = ctx.span.map(|r| {
            let attributes = vec![
                Attribute::new("gen_ai.operation.name", operation),
                Attribute::new("gen_ai.request.model", model.to_string()),
            ];
            r.child(format!("{operation} {model}"), Kind::Client, attributes)
        });
        Arc::new(Self {
            span,
            identity: ctx.admitted.map(|a| a.identity.name.clone()).filter(|n| !n.is_empty()),
            prompt: prompt.filter(|_| logs_prompt).and_then(last_user_turn),
            attempts: Default::default(),
            upstream: Mutex::new(None),
            started: Instant::now(),
            operation,
            request_model: model_label(ctx.backends, model),
            requested: model.to_string(),
            stream,
            served: Mutex::new(None),
        })
    }

    /// The provider `p` answered: what it was asked for and what it reported.
    pub fn served(&self, p: &AiProviderIr, served: Served) {
        let provider = provider_name(&p.catalog);
        if let Some(span) = &self.span {
            span.set(Attribute::new("gen_ai.provider.name", provider));
            span.set(Attribute::new("gen_ai.response.model", served.model.clone()));
            span.set(Attribute::new("sluice.provider", p.id.to_string()));
            if let Some(u) = &served.usage {
                span.set(Attribute::new("gen_ai.usage.input_tokens", i64::try_from(u.input).unwrap_or(i64::MAX)));
                span.set(Attribute::new("gen_ai.usage.output_tokens", i64::try_from(u.output).unwrap_or(i64::MAX)));
            }
            if let Some(r) = &served.finish_reason {
                span.set(trace::strings("gen_ai.response.finish_reasons", [r.clone()]));
            }
        }
        *self.served.lock().unwrap_or_else(|p| p.into_inner()) = Some((provider, served));
    }

    /// The answer, its body watched: when it has gone (or the client left) the call is
    /// recorded.
    pub fn watch(self: Arc<Self>, resp: Response<ProxyBody>, metrics: Arc<Metrics>) -> Response<ProxyBody> {
        let (mut parts, body) = resp.into_parts();
        parts.extensions.insert(Note(self.clone()));
        let body = observe::watch(
            body,
            Box::new(move |seen| {
                if let Some(span) = &self.span {
                    if !seen.complete {
                        span.fail("the answer was not sent whole".into());
                    }
                    span.end();
                }
                let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
                let Some((provider, served)) = served.as_ref() else { return };
                if let Some(u) = &served.usage {
                    metrics.usage.record(self.identity.as_deref(), u.input, u.output, served.cost_usd);
                }
                let call = Call {
                    operation: self.operation,
                    provider,
                    request_model: &self.request_model,
                    response_model: &served.model_label,
                    tokens: served.usage.map(|u| (u.input, (self.operation != "embeddings").then_some(u.output))),
                    duration: seen.done.saturating_duration_since(self.started),
                    first_output: self
                        .stream
                        .then_some(seen.first_data)
                        .flatten()
                        .map(|t| t.saturating_duration_since(self.started)),
                };
                metrics.genai.record(&call);
            }),
        );
        Response::from_parts(parts, body)
    }

    /// The client's headers with this call's span as the parent of what goes to the provider
    /// (`None`: traces are off; the client's headers go as they are).
    pub fn traced_headers(&self, client: &http::HeaderMap) -> Option<http::HeaderMap> {
        let span = self.span.as_ref()?;
        let mut headers = client.clone();
        span.inject(&mut headers);
        Some(headers)
    }

    /// A provider answered the attempt sent at `sent` (its response head came).
    pub fn attempt_answered(&self, sent: Instant) {
        self.attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.upstream.lock().unwrap_or_else(|p| p.into_inner()) = Some(sent.elapsed());
    }

    /// A failed attempt at a provider, noted on the call's span: the provider and the status
    /// it answered (`504` for a timeout, `502` when it could not be reached).
    pub fn attempt_failed(&self, provider: &str, status: http::StatusCode) {
        self.attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(span) = &self.span {
            let attributes = vec![
                Attribute::new("sluice.provider", provider.to_string()),
                Attribute::new("error.type", status.as_str().to_string()),
            ];
            span.event("attempt failed", attributes);
        }
    }
}

/// Bytes of a logged prompt; a longer one is cut at a character boundary and ends with `…`.
pub const PROMPT_MAX_BYTES: usize = 256;

/// The text of the request's last user turn, cut to [`PROMPT_MAX_BYTES`].
fn last_user_turn(req: &ChatRequest) -> Option<String> {
    let turn = req.messages.iter().rev().find(|m| m.role == Role::User)?;
    let texts: Vec<&str> = turn
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let text = texts.join("\n");
    if text.len() <= PROMPT_MAX_BYTES {
        return Some(text);
    }
    let cut = (0..=PROMPT_MAX_BYTES).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    Some(format!("{}…", &text[..cut]))
}

impl Fields for CallReport {
    fn write(&self, line: &mut Line) {
        line.str("request_model", &self.requested);
        let attempts = self.attempts.load(std::sync::atomic::Ordering::Relaxed);
        if attempts > 0 {
            line.raw("attempts", attempts);
        }
        if let Some(wait) = *self.upstream.lock().unwrap_or_else(|p| p.into_inner()) {
            line.float("upstream_ms", wait.as_secs_f64() * 1000.0);
        }
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let Some((provider, s)) = served.as_ref() else { return };
        line.str("provider", provider);
        line.str("response_model", &s.model);
        if let Some(u) = &s.usage {
            line.raw("input_tokens", u.input);
            line.raw("output_tokens", u.output);
            line.raw("cache_read_tokens", u.cache_read);
            line.raw("reasoning_tokens", u.reasoning);
            line.raw("tokens_estimated", u.estimated);
        }
        if let Some(usd) = s.cost_usd {
            line.raw("cost_usd", usd);
        }
        line.opt_str("finish_reason", s.finish_reason.as_deref());
        line.opt_str("prompt", self.prompt.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::canonical::Message;

    fn turn(role: Role, text: &str) -> Message {
        Message { role, parts: vec![Part::Text(text.to_string())] }
    }

    #[test]
    fn the_logged_prompt_is_the_last_user_turn_cut_at_a_character() {
        let mut req = ChatRequest {
            system: vec!["SYSTEM".into()],
            messages: vec![turn(Role::User, "first"), turn(Role::Assistant, "answer"), turn(Role::User, "second")],
            ..ChatRequest::default()
        };
        assert_eq!(last_user_turn(&req).as_deref(), Some("second"));
        // 255 ASCII bytes, then a two-byte character across the bound: cut before it.
        req.messages.push(turn(Role::User, &("a".repeat(255) + "éxyz")));
        let cut = last_user_turn(&req).expect("a turn");
        assert_eq!(cut, "a".repeat(255) + "…");
        req.messages = vec![turn(Role::Assistant, "only")];
        assert_eq!(last_user_turn(&req), None);
    }
}
