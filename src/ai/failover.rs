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
use crate::ir::ai::{AiBackendIr, AiProviderIr};

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
    for p in order(ctx, backend) {
        let call = attempt(p.clone());
        let result = deadline::within_opt(backend.first_byte_timeout, call, |limit| AiError {
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
                ctx.pipe.health.failure(&p.id, backend.consecutive_failures, backend.ejection, e.retry_after);
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
