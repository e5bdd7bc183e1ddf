//! Connection pools per (upstream, endpoint), outliving config reloads.
//!
//! HTTP/1.1 connections are kept idle after their response finished and reused; one HTTP/2
//! connection per endpoint is shared by all requests. Keyed by the upstream's stable pool key,
//! so a reload that keeps a backend keeps its connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::io::connect;
use crate::httpkit::body::ProxyBody;
use crate::ir::{Endpoint, Upstream, UpstreamProtocol};
use crate::proxy::error::ProxyError;

const MAX_IDLE_PER_ENDPOINT: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Pools {
    map: Mutex<HashMap<(String, Endpoint), Arc<EndpointPool>>>,
    /// Where connection times are recorded.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

#[derive(Default)]
struct EndpointPool {
    idle: Mutex<Vec<http1::SendRequest<ProxyBody>>>,
    h2: Mutex<Option<http2::SendRequest<ProxyBody>>>,
}

enum Sender {
    H1(http1::SendRequest<ProxyBody>),
    H2(http2::SendRequest<ProxyBody>),
}

impl Pools {
    /// Pools that record how long each new connection took to open.
    pub fn with_metrics(metrics: Arc<crate::metrics::Metrics>) -> Self {
        Pools { map: Mutex::default(), metrics: Some(metrics) }
    }

    /// The pools of an upstream's endpoints: looked up in the registry once per snapshot
    /// object, then read from the upstream's own slot without a lock.
    fn endpoint_pools(&self, upstream: &Upstream) -> Arc<Vec<Arc<EndpointPool>>> {
        let build = || -> Arc<dyn std::any::Any + Send + Sync> {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let pools: Vec<Arc<EndpointPool>> = upstream
                .endpoints
                .iter()
                .map(|e| map.entry((upstream.pool_key.clone(), e.clone())).or_default().clone())
                .collect();
            Arc::new(pools)
        };
        match upstream.pools.get_or_init(build).clone().downcast::<Vec<Arc<EndpointPool>>>() {
            Ok(p) => p,
            Err(_) => Arc::new(Vec::new()),
        }
    }

    /// Sends a request to endpoint `index` of `upstream`. A pooled connection that turns out
    /// closed before the request was written is replaced transparently by a new one.
    pub async fn send(
        &self,
        upstream: &Upstream,
        index: usize,
        req: Request<ProxyBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ProxyError> {
        let pools = self.endpoint_pools(upstream);
        let (Some(pool), Some(endpoint)) = (pools.get(index), upstream.endpoints.get(index)) else {
            tracing::warn!(backend = %upstream.pool_key, index, "no such endpoint");
            return Err(ProxyError::upstream_connect("the backend has no such endpoint"));
        };
        let mut req = req;
        // An upgrade takes a connection of its own: it never returns to the pool.
        let pooled = if upgrade { None } else { pool.take_ready() };
        if let Some(sender) = pooled {
            match try_send(sender, req).await {
                Ok((resp, sender)) => {
                    pool.recycle(sender);
                    return Ok(resp);
                }
                Err(TryErr::NotSent(r)) => req = *r,
                Err(TryErr::Failed(e)) => return Err(e),
            }
        }
        let sender = self.open(pool, upstream, endpoint, upgrade).await?;
        match try_send(sender, req).await {
            Ok((resp, sender)) => {
                if !(upgrade && resp.status() == http::StatusCode::SWITCHING_PROTOCOLS) {
                    pool.recycle(sender);
                }
                Ok(resp)
            }
            Err(TryErr::NotSent(_)) => Err(ProxyError::upstream_connect(format!(
                "connection to {endpoint} closed before the request was sent"
            ))),
            Err(TryErr::Failed(e)) => Err(e),
        }
    }

    async fn open(
        &self,
        pool: &Arc<EndpointPool>,
        upstream: &Upstream,
        endpoint: &Endpoint,
        upgrade: bool,
    ) -> Result<Sender, ProxyError> {
        let started = std::time::Instant::now();
        let io = connect(endpoint, upstream.tls.as_deref(), CONNECT_TIMEOUT)
            .await
            .map_err(|e| unreachable(upstream, endpoint, "connecting", &e))?;
        let h2 = !upgrade && (upstream.protocol == UpstreamProtocol::H2c || io.is_h2());
        let io = TokioIo::new(io);
        if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| unreachable(upstream, endpoint, "the HTTP/2 handshake", &e))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream h2 connection ended");
                }
            });
            *pool.h2.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender.clone());
            self.opened(upstream, started);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(|e| unreachable(upstream, endpoint, "the HTTP/1.1 handshake", &e))?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "upstream h1 connection ended");
                }
            });
            self.opened(upstream, started);
            Ok(Sender::H1(sender))
        }
    }

    fn opened(&self, upstream: &Upstream, started: std::time::Instant) {
        if let Some(m) = &self.metrics {
            m.record_connect(backend_label(&upstream.pool_key), started.elapsed());
        }
    }
}

/// The backend a pool key names, as metrics label it: `namespace/service:port` for Services,
/// `namespace/backend/provider` for AI providers.
fn backend_label(key: &str) -> &str {
    if let Some(ai) = key.strip_prefix("ai:") {
        return ai.split_once(":http").map_or(ai, |(id, _)| id);
    }
    match key.match_indices('/').nth(1) {
        Some((i, _)) => &key[..i],
        None => key,
    }
}

impl EndpointPool {
    fn take_ready(&self) -> Option<Sender> {
        {
            let h2 = self.h2.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = h2.as_ref()
                && s.is_ready()
            {
                return Some(Sender::H2(s.clone()));
            }
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Connections go back right after their response head, so some may still be busy
        // with a body: skip those, drop the closed ones, take the first that is ready.
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            if idle[i].is_ready() {
                return Some(Sender::H1(idle.swap_remove(i)));
            }
            if idle[i].is_closed() {
                idle.swap_remove(i);
            }
        }
        None
    }

    /// Keeps an HTTP/1.1 connection for reuse once its current response is done (no task is
    /// spawned per request: readiness is checked when the connection is next wanted).
    fn recycle(&self, sender: Sender) {
        let Sender::H1(sender) = sender else { return };
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push(sender);
        }
    }
}

enum TryErr {
    NotSent(Box<Request<ProxyBody>>),
    Failed(ProxyError),
}

async fn try_send(sender: Sender, req: Request<ProxyBody>) -> Result<(Response<Incoming>, Sender), TryErr> {
    match sender {
        Sender::H1(mut s) => match s.try_send_request(req).await {
            Ok(resp) => Ok((resp, Sender::H1(s))),
            Err(mut e) => match e.take_message() {
                Some(req) => Err(TryErr::NotSent(Box::new(req))),
                None => Err(TryErr::Failed(failed(e.error()))),
            },
        },
        Sender::H2(mut s) => match s.try_send_request(req).await {
            Ok(resp) => Ok((resp, Sender::H2(s))),
            Err(mut e) => match e.take_message() {
                Some(req) => Err(TryErr::NotSent(Box::new(req))),
                None => Err(TryErr::Failed(failed(e.error()))),
            },
        },
    }
}

/// A backend that could not be reached: the address goes to the log, the client hears only
/// what failed (an internal address is not the client's business).
fn unreachable(upstream: &Upstream, endpoint: &Endpoint, step: &str, e: &dyn std::fmt::Display) -> ProxyError {
    tracing::warn!(backend = %upstream.pool_key, %endpoint, error = %e, "{step} to an upstream failed");
    ProxyError::upstream_connect(format!("{step} to the backend failed: {e}"))
}

/// A request that failed once sent: the client's body over the route's limit (`413`, the
/// client's doing), or the upstream's failure.
fn failed(e: &hyper::Error) -> ProxyError {
    if crate::httpkit::body::over_limit(e) {
        return ProxyError {
            side: crate::proxy::error::Side::Downstream,
            status: http::StatusCode::PAYLOAD_TOO_LARGE,
            retryable: false,
            sent: true,
            message: "the request body is larger than this route takes".into(),
        };
    }
    ProxyError::upstream(format!("upstream request failed: {e}"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keys_become_backend_labels() {
        assert_eq!(backend_label("default/echo:80/Http1/plain"), "default/echo:80");
        assert_eq!(backend_label("ai:default/openai/openai:https://api.openai.com"), "default/openai/openai");
        assert_eq!(backend_label("odd"), "odd");
    }
}
