//! The access log of a request (the TrafficPolicy `accessLog` section; docs/observability.md):
//! what the request was, known when it is routed, and what its answer did, known when the
//! answer's body has gone. One JSON object per line; the query string, headers, credentials
//! and bodies are never written.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Response};
use serde_json::{Map, Value, json};

use crate::httpkit::body::ProxyBody;
use crate::httpkit::observe;
use crate::ir::policy::AccessLogIr;
use crate::metrics::Metrics;
use crate::metrics::access_log::Note;

/// What is known of a logged request before its answer.
pub struct Pending<'s> {
    pub log: &'s AccessLogIr,
    pub method: Method,
    pub path: String,
    pub client: IpAddr,
    /// The identity the policy layer found, and its decision.
    pub identity: Option<String>,
    pub policy: Option<&'static str>,
}

/// Whether this request is one of the share `sampling` logs.
pub fn sampled(sampling: f64) -> bool {
    sampling >= 1.0 || (sampling > 0.0 && rand::random::<f64>() < sampling)
}

/// The answer, its body watched: the line is written when the body has gone.
pub fn finish(
    metrics: &Arc<Metrics>,
    pending: Pending<'_>,
    (route, backend): (Option<Arc<str>>, Option<Arc<str>>),
    started: Instant,
    resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let status = resp.status().as_u16();
    if !pending.log.logs_status(status) {
        return resp;
    }
    let mut line = Map::new();
    line.insert("time".into(), json!(utc_now()));
    line.insert("route".into(), json!(route.as_deref()));
    line.insert("backend".into(), json!(backend.as_deref()));
    line.insert("method".into(), json!(pending.method.as_str()));
    line.insert("path".into(), json!(pending.path));
    line.insert("status".into(), json!(status));
    line.insert("client_ip".into(), json!(pending.client.to_string()));
    line.insert("identity".into(), json!(pending.identity));
    line.insert("policy".into(), json!(pending.policy));
    let log = pending.log.clone();
    let (mut parts, body) = resp.into_parts();
    let note = parts.extensions.remove::<Note>();
    let metrics = metrics.clone();
    let body = observe::watch(
        body,
        Box::new(move |seen| {
            let ms = |t: Instant| t.saturating_duration_since(started).as_secs_f64() * 1000.0;
            line.insert("duration_ms".into(), json!(round(ms(seen.done))));
            line.insert("first_byte_ms".into(), json!(seen.first_data.map(|t| round(ms(t)))));
            line.insert("bytes".into(), json!(seen.bytes));
            line.insert("complete".into(), json!(seen.complete));
            if let Some(Note(fields)) = &note {
                fields.write(&mut line);
            }
            line.retain(|k, v| !v.is_null() && log.writes(k));
            metrics.access_logs.write(log.path.as_ref(), Value::Object(line).to_string());
        }),
    );
    Response::from_parts(parts, body)
}

/// Milliseconds to the microsecond.
fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Now as RFC 3339 in UTC, to the millisecond (`2026-12-05T23:01:42.123Z`).
fn utc_now() -> String {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn statuses_and_sampling_decide_what_is_logged() {
        assert!(sampled(1.0));
        assert!(!sampled(0.0));
        let half = (0..2000).filter(|_| sampled(0.5)).count();
        assert!((800..1200).contains(&half), "{half} of 2000 at 0.5");
    }
}
