//! Failover across a backend's providers: groups in order, weighted within a group, skipping
//! ejected providers; the next provider is tried on connect errors, 5xx, 429 and timeouts
//! before the first byte — never after a response has begun.

use std::future::Future;
use std::sync::Arc;

use http::Response;

use super::Ctx;
use super::errors::AiError;
use crate::httpkit::body::ProxyBody;
use crate::httpkit::{deadline, weighted};
use crate::ir::ai::{AiAuth, AiBackendIr, AiProviderIr};

/// How long a provider may take to its first byte when the backend sets no `firstByteTimeout`:
/// a non-streamed answer of a reasoning model arrives whole, after minutes (10 min is also the
/// OpenAI SDK's own default).
const DEFAULT_FIRST_BYTE: std::time::Duration = std::time::Duration::from_secs(600);

/// Providers in the order they will be tried.
fn order(ctx: &Ctx<'_>, backend: &AiBackendIr) -> Vec<Arc<AiProviderIr>> {
    let mut out = Vec::new();
    for group in &backend.groups {
        let live: Vec<Arc<AiProviderIr>> =
            group.iter().filter(|p| !ctx.pipe.health.is_ejected(&p.id)).cloned().collect();
        out.extend(weighted::order(live, |p| p.weight));
    }
    if out.is_empty() {
        // Everything is ejected: try them all anyway rather than fail without trying.
        out = backend.groups.iter().flatten().cloned().collect();
    }
    out
}

pub async fn run<'a, F, Fut>(
    ctx: &Ctx<'_>,
    backend: &AiBackendIr,
    mut attempt: F,
) -> Result<Response<ProxyBody>, AiError>
where
    F: FnMut(Arc<AiProviderIr>) -> Fut,
    Fut: Future<Output = Result<Response<ProxyBody>, AiError>> + 'a,
{
    let mut last = None;
    let budget = backend.request_timeout.map(|d| (d, tokio::time::Instant::now() + d));
    // The client's own key (passthrough) goes to one origin per request: a failover never
    // carries it to another provider (maybe another vendor).
    let mut passthrough_to: Option<String> = None;
    for p in order(ctx, backend) {
        if matches!(p.auth, AiAuth::Passthrough(_)) {
            let origin = p.endpoint.as_ref().map(|e| format!("{}://{}", e.scheme, e.authority)).unwrap_or_default();
            match &passthrough_to {
                Some(first) if *first != origin => {
                    tracing::warn!(provider = %p.id, "not failing over: the client's key went to another provider");
                    continue;
                }
                _ => passthrough_to = Some(origin),
            }
        }
        let mut limit = backend.first_byte_timeout.unwrap_or(DEFAULT_FIRST_BYTE);
        if let Some((whole, end)) = budget {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(out_of_time(&backend.key, whole));
            }
            limit = limit.min(left);
        }
        let call = attempt(p.clone());
        let result = deadline::within(limit, call, |limit| AiError {
            retryable: true,
            ..AiError::new(
                super::errors::ErrorKind::Timeout,
                http::StatusCode::GATEWAY_TIMEOUT,
                format!("provider {} did not answer within {limit:?}", p.id),
            )
        })
        .await;
        match result {
            Ok(resp) => {
                ctx.pipe.health.success(&p.id);
                ctx.pipe.metrics.record_ai_attempt(&p.id, "success");
                return Ok(resp);
            }
            Err(e) if e.retryable => {
                tracing::warn!(provider = %p.id, error = %e, "provider failed; trying the next one");
                ctx.pipe.metrics.record_ai_attempt(&p.id, "failure");
                if ctx.pipe.health.failure(&p.id, backend.consecutive_failures, backend.ejection, e.retry_after) {
                    ctx.pipe.metrics.record_ejection(&p.id);
                }
                last = Some(e);
            }
            Err(e) => {
                ctx.pipe.metrics.record_ai_attempt(&p.id, "client_error");
                return Err(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| AiError::upstream("no provider is configured")))
}

/// The request's budget ran out before a provider answered.
fn out_of_time(backend: &crate::ir::ObjectKey, whole: std::time::Duration) -> AiError {
    AiError::new(
        super::errors::ErrorKind::Timeout,
        http::StatusCode::GATEWAY_TIMEOUT,
        format!("no provider of AIBackend {backend} answered within the request's {whole:?} (failover.requestTimeout)"),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::ai::AiPipeline;
    use crate::ir::ObjectKey;
    use crate::ir::ai::{AiAuth, MockSettings, WireFormat};

    fn provider(id: &str) -> Arc<AiProviderIr> {
        Arc::new(AiProviderIr {
            id: Arc::from(id),
            kind: WireFormat::Mock,
            catalog: "mock".into(),
            weight: 1,
            model: None,
            force_model: false,
            chat_path: None,
            stream_path: None,
            deployment: None,
            api_version: None,
            endpoint: None,
            auth: AiAuth::None,
            mock: MockSettings::default(),
        })
    }

    /// Providers `a` then `b`, each a group of its own (a fixed order).
    fn backend(first_byte_timeout: Option<Duration>) -> AiBackendIr {
        AiBackendIr {
            key: ObjectKey::new("default", "llm"),
            groups: vec![vec![provider("a")], vec![provider("b")]],
            models: vec![],
            consecutive_failures: 2,
            ejection: Duration::from_secs(30),
            first_byte_timeout,
            stream_idle_timeout: None,
            request_timeout: None,
            passthrough: vec![],
        }
    }

    fn pipeline() -> AiPipeline {
        AiPipeline::new(
            Arc::default(),
            Arc::default(),
            Arc::default(),
            Arc::new(crate::store::documents::MemoryDocs::default()),
        )
    }

    /// Runs one request: `a` behaves as `a_does` says, `b` answers; returns who was tried.
    async fn request(
        pipe: &AiPipeline,
        backend: &AiBackendIr,
        a_does: impl Fn() -> Result<Duration, AiError>,
    ) -> (Vec<String>, Result<Response<ProxyBody>, AiError>) {
        let tried = Mutex::new(Vec::new());
        let (parts, ()) = http::Request::new(()).into_parts();
        let ctx = Ctx {
            pipe,
            backends: &[],
            headers: &parts.headers,
            parts: &parts,
            admitted: None,
            span: None,
            refused: Default::default(),
        };
        let result = run(&ctx, backend, |p| {
            tried.lock().unwrap_or_else(|e| e.into_inner()).push(p.id.to_string());
            let a = (&*p.id == "a").then(&a_does);
            async move {
                match a {
                    Some(Ok(delay)) => tokio::time::sleep(delay).await,
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
                Ok(Response::new(crate::httpkit::body::empty()))
            }
        })
        .await;
        (tried.into_inner().unwrap_or_else(|e| e.into_inner()), result)
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_silent_past_the_first_byte_timeout_fails_over() {
        let (pipe, backend) = (pipeline(), backend(Some(Duration::from_secs(5))));
        let start = tokio::time::Instant::now();
        let (tried, result) = request(&pipe, &backend, || Ok(Duration::from_secs(60))).await;
        assert!(result.is_ok());
        assert_eq!(tried, ["a", "b"]);
        assert_eq!(start.elapsed(), Duration::from_secs(5), "given up on `a` at its deadline, not later");
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_timeout_bounds_every_attempt_together() {
        let (pipe, mut backend) = (pipeline(), backend(None));
        backend.request_timeout = Some(Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        let (tried, result) = request(&pipe, &backend, || Ok(Duration::from_secs(60))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(30), "`a` given up when the whole budget ran out");
        assert_eq!(tried, ["a"], "no time left for `b`");
        let e = result.expect_err("out of time");
        assert_eq!(e.status, http::StatusCode::GATEWAY_TIMEOUT);
        assert!(e.message.contains("failover.requestTimeout"), "{}", e.message);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_providers_are_ejected_for_a_while_then_tried_again() {
        let (pipe, backend) = (pipeline(), backend(None));
        let fail = || Err(AiError::upstream("down"));
        assert_eq!(request(&pipe, &backend, fail).await.0, ["a", "b"]);
        assert_eq!(request(&pipe, &backend, fail).await.0, ["a", "b"], "one failure short of ejection");
        assert_eq!(request(&pipe, &backend, fail).await.0, ["b"], "ejected after 2 in a row");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(request(&pipe, &backend, fail).await.0, ["b"], "still ejected");
        tokio::time::advance(Duration::from_secs(2)).await;
        let (tried, _) = request(&pipe, &backend, || Ok(Duration::ZERO)).await;
        assert_eq!(tried, ["a"], "back after 30 s, and a success clears its count");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_ejects_at_once_for_as_long_as_it_says() {
        let (pipe, backend) = (pipeline(), backend(None));
        let limited = || {
            Err(AiError::from_provider(
                http::StatusCode::TOO_MANY_REQUESTS,
                "slow down".into(),
                Some(Duration::from_secs(10)),
            ))
        };
        assert_eq!(request(&pipe, &backend, limited).await.0, ["a", "b"]);
        assert_eq!(request(&pipe, &backend, limited).await.0, ["b"]);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(request(&pipe, &backend, limited).await.0, ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_retry_after_ejects_for_ten_minutes_at_most() {
        let (pipe, backend) = (pipeline(), backend(None));
        // u64::MAX seconds once overflowed the clock (a panic) or ejected for ever.
        let limited = || {
            Err(AiError::from_provider(
                http::StatusCode::TOO_MANY_REQUESTS,
                "slow down".into(),
                Some(Duration::from_secs(u64::MAX)),
            ))
        };
        assert_eq!(request(&pipe, &backend, limited).await.0, ["a", "b"]);
        assert_eq!(request(&pipe, &backend, limited).await.0, ["b"]);
        tokio::time::advance(crate::ai::state::MAX_RETRY_AFTER + Duration::from_secs(1)).await;
        assert_eq!(request(&pipe, &backend, limited).await.0, ["a", "b"], "back after the bound");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_error_is_answered_without_failing_over() {
        let (pipe, backend) = (pipeline(), backend(None));
        let (tried, result) = request(&pipe, &backend, || Err(AiError::invalid("bad request"))).await;
        assert_eq!(tried, ["a"]);
        assert!(result.is_err());
    }
}
