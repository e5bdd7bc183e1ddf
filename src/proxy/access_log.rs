//! The access log of a request (the TrafficPolicy `accessLog` section; docs/observability.md):
//! what the request was, known when it is routed, and what its answer did, known when the
//! answer's body has gone. One JSON object per line; the query string, headers, credentials
//! and bodies are never written.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Response};

use crate::httpkit::body::ProxyBody;
use crate::httpkit::observe;
use crate::ir::policy::AccessLogIr;
use crate::metrics::Metrics;
use crate::metrics::access_log::{Line, Note, Refused};

/// What is known of a logged request before its answer.
pub struct Pending<'s> {
    pub log: &'s Arc<AccessLogIr>,
    pub method: Method,
    pub path: String,
    pub client: IpAddr,
    /// The identity the policy layer found, and its decision.
    pub identity: Option<String>,
    pub policy: Option<&'static str>,
    /// Proxied rules: the endpoint that answered, its wait for the response head, and the
    /// attempts made (retries included).
    pub endpoint: Option<String>,
    pub upstream: Option<std::time::Duration>,
    pub attempts: u32,
}

/// Whether this request is one of the share `sampling` logs.
pub fn sampled(sampling: f64) -> bool {
    sampling >= 1.0 || (sampling > 0.0 && rand::random::<f64>() < sampling)
}

/// A line for `log`, begun with the time.
pub fn line(log: &AccessLogIr) -> Line {
    let mut line = Line::new(log.fields.clone());
    line.now("time");
    line
}

/// The answer, its body watched: the line is written when the body has gone.
pub fn finish(
    metrics: &Arc<Metrics>,
    pending: Pending<'_>,
    (route, backend): (Option<&str>, Option<&str>),
    started: Instant,
    resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let status = resp.status().as_u16();
    if !pending.log.logs_status(status) {
        return resp;
    }
    let mut line = line(pending.log);
    line.opt_str("route", route);
    line.opt_str("backend", backend);
    line.opt_str("endpoint", pending.endpoint.as_deref());
    if let Some(wait) = pending.upstream {
        line.float("upstream_ms", wait.as_secs_f64() * 1000.0);
    }
    if pending.attempts > 0 {
        line.raw("attempts", pending.attempts);
    }
    line.str("method", pending.method.as_str());
    line.str("path", &pending.path);
    line.raw("status", status);
    line.raw("client_ip", format_args!("\"{}\"", pending.client));
    line.opt_str("identity", pending.identity.as_deref());
    let log = pending.log.clone();
    let (mut parts, body) = resp.into_parts();
    let note = parts.extensions.remove::<Note>();
    let refused = parts.extensions.remove::<Refused>().map(|r| r.0);
    line.opt_str("policy", refused.or(pending.policy));
    let metrics = metrics.clone();
    let body = observe::watch(
        body,
        Box::new(move |seen| {
            let ms = |t: Instant| t.saturating_duration_since(started).as_secs_f64() * 1000.0;
            line.float("duration_ms", ms(seen.done));
            if let Some(first) = seen.first_data {
                line.float("first_byte_ms", ms(first));
            }
            line.raw("bytes", seen.bytes);
            line.raw("complete", seen.complete);
            if let Some(Note(fields)) = &note {
                fields.write(&mut line);
            }
            metrics.access_logs.write(log.path.as_ref(), &line.finish());
        }),
    );
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_its_share() {
        assert!(sampled(1.0));
        assert!(!sampled(0.0));
        let half = (0..2000).filter(|_| sampled(0.5)).count();
        assert!((800..1200).contains(&half), "{half} of 2000 at 0.5");
    }
}
