//! Rate limits by requests or tokens, counted per key (client IP, identity, model, route, MCP
//! tool, a header, a claim or an attribute), each asked where its key is known: on arrival,
//! once an AI request's model is known (token limits and model keys), or per MCP `tools/call`
//! (tool keys). Every limit that applies must admit; the first refusal wins and gives back what
//! the others took. Token limits reserve the prompt's estimate plus the output maximum at
//! admission and settle with the provider's usage when the answer ends, so concurrent streams
//! overshoot by at most what they reserved. State lives here, keyed by each limit's id, across
//! reloads.

pub mod gcra;
pub mod global;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

use self::gcra::{Decision, Limiter, Quota};
use self::global::Global;
use super::Denial;
use super::identity::Identity;
use crate::ir::policy::{KeyPart, RateLimitIr, RedisFailure, TokenCountIr};

/// Where in a request limits are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Arrival,
    /// An AI request's model (and prompt) is known.
    Model,
    /// An MCP tool is called.
    ToolCall,
}

/// What a limit's key may be made of.
pub struct Subject<'a> {
    pub parts: &'a Parts,
    pub peer: super::Peer,
    pub identity: &'a Identity,
    pub route: &'a str,
    pub model: Option<&'a str>,
    pub tool: Option<&'a str>,
}

/// The tokens an AI request may use: its prompt's estimate and the most it may answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenAsk {
    pub input: u64,
    /// `None`: the client set no maximum (each limit's default applies).
    pub max_output: Option<u64>,
}

/// Where a limit's cells were taken: this process's limiter, or Redis.
#[derive(Clone)]
enum Counter {
    Local(Arc<Limiter>),
    Global(Arc<Global>, Quota),
}

impl Counter {
    /// Gives back or takes more; a global settlement runs in the background.
    fn settle(&self, key: &str, delta: i64) {
        match self {
            Counter::Local(l) => l.settle(key, delta),
            Counter::Global(g, quota) => {
                let (g, quota, key) = (g.clone(), *quota, key.to_string());
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        if let Err(e) = g.settle(quota, &key, delta).await {
                            tracing::warn!(error = %e, "settling a global token reservation failed");
                        }
                    });
                }
            }
        }
    }
}

/// Cells taken by one limit. Those of token limits are kept as reservations: tokens taken
/// ahead of the answer, settled with what it used.
pub struct Reservation {
    counter: Counter,
    key: String,
    reserved: u64,
    /// `None`: a request limit's (given back on a later refusal, never settled).
    count: Option<TokenCountIr>,
}

impl Reservation {
    /// Charges what the answer used instead of what was reserved.
    pub fn settle(&self, input: u64, output: u64) {
        let Some(count) = self.count else { return };
        let used = match count {
            TokenCountIr::Total => input + output,
            TokenCountIr::Input => input,
            TokenCountIr::Output => output,
        };
        let delta = i64::try_from(used).unwrap_or(i64::MAX) - i64::try_from(self.reserved).unwrap_or(i64::MAX);
        self.counter.settle(&self.key, delta);
    }
}

/// What admitted a request: the rate-limit headers to answer with, the reservations to settle.
#[derive(Default)]
pub struct Admission {
    pub headers: RateHeaders,
    pub reservations: Vec<Reservation>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("headers", &self.headers.map())
            .field("reservations", &self.reservations.len())
            .finish()
    }
}

#[derive(Default)]
pub struct Limiters {
    /// Limiters by the limit's id (ids are the operator's: a fast hash).
    by_id: Mutex<HashMap<String, Arc<Limiter>, foldhash::fast::FixedState>>,
    /// Redis, for global limits (`sluice run --redis-url`).
    global: Option<Arc<Global>>,
}

/// A duration in OpenAI's format for `x-ratelimit-reset-*`: `20ms`, `6s`, `1m30s`. Written
/// where it goes (a header buffer, a message), never formatted apart.
struct Reset(Duration);

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // In u64: formatting a u128 costs several times more, on every answer of a limited route.
        let ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let s = self.0.as_secs();
        match (s / 3600, s % 3600 / 60, s % 60) {
            (0, 0, s) => write!(f, "{s}s"),
            (0, m, s) => write!(f, "{m}m{s}s"),
            (h, m, s) => write!(f, "{h}h{m}m{s}s"),
        }
    }
}

fn key(limit: &RateLimitIr, s: &Subject<'_>) -> String {
    // Room for the parts too: one allocation for most keys.
    let mut k = String::with_capacity(limit.id.len() + 64);
    k.push_str(&limit.id);
    for part in &limit.key {
        k.push('|');
        match part {
            KeyPart::ClientIp => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(k, "{}", s.peer.ip);
            }
            KeyPart::Identity => k.push_str(&s.identity.name),
            KeyPart::Model => k.push_str(s.model.unwrap_or_default()),
            KeyPart::Route => k.push_str(s.route),
            KeyPart::Tool => k.push_str(s.tool.unwrap_or_default()),
            KeyPart::Header(h) => k.push_str(s.parts.headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default()),
            KeyPart::Claim(c) => k.push_str(&s.identity.claims.get(c).map(|v| v.to_string()).unwrap_or_default()),
            KeyPart::Attribute(a) => k.push_str(&s.identity.attribute(a).unwrap_or_default()),
        }
    }
    k
}

/// Whether any of `limits` is asked at `stage` (token limits only when `tokens` are counted):
/// whether [`Limiters::check`] decides anything there.
pub fn any_asked(limits: &[RateLimitIr], stage: Stage, tokens: bool) -> bool {
    limits.iter().any(|l| asked(l, stage) && (tokens || l.tokens.is_none()))
}

fn asked(limit: &RateLimitIr, stage: Stage) -> bool {
    match stage {
        Stage::ToolCall => limit.needs_tool(),
        Stage::Model => limit.needs_model() && !limit.needs_tool(),
        Stage::Arrival => !limit.needs_model() && !limit.needs_tool(),
    }
}

impl Limiters {
    /// Limiters whose global limits are kept in Redis at `url`.
    pub fn with_redis(target: crate::store::redis::Target) -> Limiters {
        Limiters { by_id: Mutex::default(), global: Some(Arc::new(Global::new(target))) }
    }

    /// Takes `n` cells of limit `l` for `k`: in Redis for a global limit (its failure mode
    /// when Redis cannot decide in time), here otherwise.
    async fn take(&self, l: &RateLimitIr, k: &str, n: u64) -> Result<(Decision, Option<Counter>), Denial> {
        let quota = Quota { limit: l.limit, period: l.period, burst: l.burst };
        if let Some(g) = l.global {
            let failure = match &self.global {
                Some(redis) => {
                    // Boxed: a Redis call's state is kilobytes, and an unboxed one would be
                    // carried (and moved) by every local decision's future too.
                    let ask: std::pin::Pin<Box<dyn Future<Output = Result<Decision, String>> + Send + '_>> =
                        Box::pin(redis.take(quota, k, n));
                    match crate::httpkit::deadline::within(g.timeout, ask, |d| format!("Redis took longer than {d:?}"))
                        .await
                    {
                        Ok(d) => return Ok((d, Some(Counter::Global(redis.clone(), quota)))),
                        Err(e) => e,
                    }
                }
                None => "no Redis is configured (sluice run --redis-url)".to_string(),
            };
            tracing::warn!(limit = %l.name, error = %failure, mode = ?g.on_failure, "a global limit could not be decided");
            match g.on_failure {
                RedisFailure::Open => {
                    return Ok((
                        Decision {
                            allowed: true,
                            limit: l.burst,
                            remaining: l.burst,
                            reset: Duration::ZERO,
                            retry_after: Duration::ZERO,
                        },
                        None,
                    ));
                }
                RedisFailure::Closed => {
                    return Err(Denial::unavailable(format!("rate limit {:?} cannot be decided: {failure}", l.name)));
                }
                RedisFailure::Local => {}
            }
        }
        let limiter = self.limiter(l);
        let d = limiter.take(k, n);
        Ok((d, Some(Counter::Local(limiter))))
    }

    fn limiter(&self, l: &RateLimitIr) -> Arc<Limiter> {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = map.get(&l.id) {
            return l.clone();
        }
        map.entry(l.id.clone())
            .or_insert_with(|| Arc::new(Limiter::new(Quota { limit: l.limit, period: l.period, burst: l.burst })))
            .clone()
    }

    /// Asks every limit that applies at `stage`; `tokens` for token limits (AI requests).
    pub async fn check(
        &self,
        limits: &[RateLimitIr],
        stage: Stage,
        s: &Subject<'_>,
        tokens: Option<TokenAsk>,
    ) -> Result<Admission, Denial> {
        // What each limit took: given back on a refusal, kept as reservations (token limits)
        // on admission.
        let mut taken: Vec<Reservation> = Vec::new();
        let mut out = Admission::default();
        let mut tightest: [Option<Decision>; 2] = [None, None];
        for l in limits.iter().filter(|l| asked(l, stage)) {
            let n = match (l.tokens, tokens) {
                (None, _) => 1,
                (Some(_), None) => continue,
                (Some(count), Some(t)) => {
                    let output = t.max_output.unwrap_or(l.default_max_output);
                    match count {
                        TokenCountIr::Total => t.input + output,
                        TokenCountIr::Input => t.input,
                        TokenCountIr::Output => output,
                    }
                }
            };
            let k = key(l, s);
            let (d, counter) = match self.take(l, &k, n).await {
                Ok(r) => r,
                Err(denial) => {
                    give_back(taken);
                    return Err(denial);
                }
            };
            if !d.allowed {
                give_back(taken);
                let what = if l.tokens.is_some() { "tokens" } else { "requests" };
                let mut denial = Denial::rate_limited(
                    format!(
                        "rate limit {:?} reached ({} {what} per {}s); retry after {}",
                        l.name,
                        l.limit,
                        l.period.as_secs(),
                        Reset(d.retry_after)
                    ),
                    d.retry_after,
                );
                let slot = usize::from(l.tokens.is_some());
                tightest[slot] = Some(d);
                denial.headers = Some(Box::new(RateHeaders(tightest).map()));
                return Err(denial);
            }
            let slot = usize::from(l.tokens.is_some());
            if tightest[slot].is_none_or(|t| d.remaining < t.remaining) {
                tightest[slot] = Some(d);
            }
            if let Some(counter) = counter {
                taken.push(Reservation { counter, key: k, reserved: n, count: l.tokens });
            }
        }
        taken.retain(|r| r.count.is_some());
        out.reservations = taken;
        out.headers = RateHeaders(tightest);
        Ok(out)
    }
}

/// Gives back what the limits asked so far took (a later one refused).
fn give_back(taken: Vec<Reservation>) {
    for r in taken {
        r.counter.settle(&r.key, -i64::try_from(r.reserved).unwrap_or(i64::MAX));
    }
}

/// OpenAI's rate-limit header names: limit, remaining, reset; of requests, then of tokens.
const HEADER_NAMES: [[HeaderName; 3]; 2] = [
    [
        HeaderName::from_static("x-ratelimit-limit-requests"),
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderName::from_static("x-ratelimit-reset-requests"),
    ],
    [
        HeaderName::from_static("x-ratelimit-limit-tokens"),
        HeaderName::from_static("x-ratelimit-remaining-tokens"),
        HeaderName::from_static("x-ratelimit-reset-tokens"),
    ],
];

/// The tightest request and token decisions, answered as OpenAI's rate-limit headers. Kept as
/// the decisions, not a header map: the headers are written once, into the answer's own map.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateHeaders([Option<Decision>; 2]);

impl RateHeaders {
    /// Writes the headers into `h`; `replace`: over those already there (an upstream's own).
    /// The values are written into one buffer and cut from it: one allocation for them all,
    /// not one each (they are on every answer of a limited route).
    pub fn write(&self, h: &mut HeaderMap, replace: bool) {
        use std::fmt::Write;
        let mut buf = bytes::BytesMut::with_capacity(96);
        for (d, names) in self.0.iter().zip(HEADER_NAMES) {
            let Some(d) = d else { continue };
            let values: [&dyn std::fmt::Display; 3] = [&d.limit, &d.remaining, &Reset(d.reset)];
            for (name, v) in names.into_iter().zip(values) {
                // Writing to a BytesMut cannot fail; digits and unit letters are always a valid
                // header value.
                let _ = write!(buf, "{v}");
                let value =
                    HeaderValue::from_maybe_shared(buf.split().freeze()).unwrap_or(HeaderValue::from_static("0"));
                if replace {
                    h.insert(name, value);
                } else if let http::header::Entry::Vacant(e) = h.entry(name) {
                    e.insert(value);
                }
            }
        }
    }

    /// The headers as a map of their own.
    pub fn map(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        self.write(&mut h, true);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, requests: Option<u64>, tokens: Option<u64>, key: Vec<KeyPart>) -> RateLimitIr {
        let n = requests.or(tokens).unwrap_or(1);
        RateLimitIr {
            id: format!("default/p/{name}"),
            name: name.into(),
            tokens: tokens.map(|_| TokenCountIr::Total),
            limit: n,
            period: Duration::from_secs(60),
            burst: n,
            key,
            default_max_output: 100,
            global: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limits_apply_at_their_stage_and_refusals_give_back() {
        let limits = [
            limit("per-key", Some(2), None, vec![KeyPart::Identity]),
            limit("per-model", Some(10), None, vec![KeyPart::Model]),
            limit("tokens", None, Some(1000), vec![]),
        ];
        let parts = http::Request::new(()).into_parts().0;
        let alice = Identity { name: "alice".into(), ..Identity::default() };
        let peer = super::super::Peer { ip: std::net::Ipv4Addr::LOCALHOST.into(), scheme: "http" };
        let s = Subject { parts: &parts, peer, identity: &alice, route: "r", model: Some("gpt"), tool: None };
        let l = Limiters::default();
        let a = l.check(&limits, Stage::Arrival, &s, None).await.expect("first");
        assert_eq!(a.headers.map()["x-ratelimit-remaining-requests"], "1");
        assert_eq!(a.headers.map()["x-ratelimit-limit-requests"], "2");
        let ask = TokenAsk { input: 300, max_output: None };
        let m = l.check(&limits, Stage::Model, &s, Some(ask)).await.expect("model stage");
        assert_eq!(m.headers.map()["x-ratelimit-remaining-tokens"], "600", "300 + the default 100… per reservation");
        assert_eq!(m.reservations.len(), 1);
        m.reservations[0].settle(300, 20);
        let again = l
            .check(&limits, Stage::Model, &s, Some(TokenAsk { input: 580, max_output: Some(100) }))
            .await
            .expect("fits");
        assert_eq!(again.headers.map()["x-ratelimit-remaining-tokens"], "0", "settled to 320 used, then 680 more");
        let refused = l.check(&limits, Stage::Model, &s, Some(ask)).await.expect_err("no tokens left");
        assert_eq!(refused.status, http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after.is_some_and(|d| d > Duration::ZERO));
        assert_eq!(
            l.check(&limits, Stage::Model, &s, Some(TokenAsk { input: 1, max_output: Some(1) }))
                .await
                .map(|a| a.headers.map()["x-ratelimit-remaining-requests"].clone())
                .err()
                .map(|d| d.status),
            Some(http::StatusCode::TOO_MANY_REQUESTS)
        );
        l.check(&limits, Stage::Arrival, &s, None).await.expect("second");
        let third = l.check(&limits, Stage::Arrival, &s, None).await.expect_err("third");
        assert!(third.message.contains("per-key"), "{}", third.message);
        let bob = Identity { name: "bob".into(), ..Identity::default() };
        let s2 = Subject { identity: &bob, ..s };
        assert!(l.check(&limits, Stage::Arrival, &s2, None).await.is_ok(), "another key");
    }

    #[test]
    fn reset_texts() {
        let text = |d: Duration| Reset(d).to_string();
        assert_eq!(text(Duration::ZERO), "0ms");
        assert_eq!(text(Duration::from_millis(20)), "20ms");
        assert_eq!(text(Duration::from_secs(6)), "6s");
        assert_eq!(text(Duration::from_secs(90)), "1m30s");
        assert_eq!(text(Duration::from_secs(3700)), "1h1m40s");
    }
}
