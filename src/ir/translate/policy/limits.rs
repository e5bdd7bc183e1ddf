//! The rate limits of a TrafficPolicy, compiled: quotas checked, keys parsed.

use http::HeaderName;

use super::super::refs::{RefFailure, invalid};
use crate::api::{Budget, Period, RateLimit, TokenCount};
use crate::ir::policy::{BudgetIr, GlobalIr, KeyPart, RateLimitIr, TokenCountIr};

/// The budgets of a policy, compiled.
pub fn budgets(policy: &str, budgets: &[Budget]) -> Result<Vec<BudgetIr>, RefFailure> {
    let mut names = std::collections::HashSet::new();
    budgets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let field = format!("spec.budgets[{i}]");
            if !names.insert(b.name.as_str()) {
                return Err(invalid(format!("{field}.name: {:?} is used twice", b.name)));
            }
            if !(b.usd.is_finite() && b.usd > 0.0)
                || b.soft_usd.is_some_and(|s| !(s.is_finite() && s > 0.0 && s <= b.usd))
            {
                return Err(invalid(format!("{field}: usd must be above 0, softUsd between 0 and usd")));
            }
            let key = b
                .key
                .iter()
                .map(|k| match key_part(k) {
                    Ok(p @ (KeyPart::Identity | KeyPart::Attribute(_) | KeyPart::Claim(_) | KeyPart::Route)) => Ok(p),
                    Ok(_) => Err(invalid(format!(
                        "{field}.key: {k:?}: budgets are kept per identity, attribute, claim or route"
                    ))),
                    Err(m) => Err(invalid(format!("{field}.key: {m}"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(BudgetIr {
                id: format!("{policy}/{}", b.name),
                name: b.name.clone(),
                usd: b.usd,
                soft_usd: b.soft_usd,
                period: b.per,
                key,
            })
        })
        .collect()
}

pub fn compile(policy: &str, limits: &[RateLimit]) -> Result<Vec<RateLimitIr>, RefFailure> {
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, l) in limits.iter().enumerate() {
        let field = format!("spec.rateLimits[{i}]");
        if !names.insert(l.name.as_str()) {
            return Err(invalid(format!("{field}.name: {:?} is used twice", l.name)));
        }
        let (limit, tokens) = match (l.requests, l.tokens) {
            (Some(n), None) => (n, None),
            (None, Some(n)) => (
                n,
                Some(match l.count.unwrap_or_default() {
                    TokenCount::Total => TokenCountIr::Total,
                    TokenCount::Input => TokenCountIr::Input,
                    TokenCount::Output => TokenCountIr::Output,
                }),
            ),
            _ => return Err(invalid(format!("{field}: set exactly one of requests and tokens"))),
        };
        if limit == 0 {
            return Err(invalid(format!("{field}: the limit must be above 0")));
        }
        if l.count.is_some() && tokens.is_none() {
            return Err(invalid(format!("{field}.count: only for token limits")));
        }
        let period = std::time::Duration::from_secs(match l.per {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        });
        let burst = l.burst.unwrap_or(limit);
        if burst == 0 {
            return Err(invalid(format!("{field}.burst: must be above 0")));
        }
        let key = l
            .key
            .iter()
            .map(|k| key_part(k).map_err(|m| invalid(format!("{field}.key: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let global = match (l.global, &l.redis_timeout) {
            (Some(true), t) => {
                let timeout = match t {
                    None => std::time::Duration::from_millis(100),
                    Some(t) => {
                        super::super::duration::parse(t).map_err(|m| invalid(format!("{field}.redisTimeout: {m}")))?
                    }
                };
                Some(GlobalIr { on_failure: l.on_redis_failure.unwrap_or_default(), timeout })
            }
            (_, None) if l.on_redis_failure.is_none() => None,
            _ => return Err(invalid(format!("{field}: onRedisFailure and redisTimeout are for global limits"))),
        };
        out.push(RateLimitIr {
            global,
            id: format!("{policy}/{}:{limit}/{}s/{burst}/{:?}/{:?}", l.name, period.as_secs(), tokens, l.key),
            name: l.name.clone(),
            tokens,
            limit,
            period,
            burst,
            key,
            default_max_output: l.default_max_output_tokens.unwrap_or(4096),
        });
    }
    Ok(out)
}

fn key_part(k: &str) -> Result<KeyPart, String> {
    let named = |prefix: &str| k.strip_prefix(prefix).filter(|n| !n.is_empty()).map(str::to_string);
    Ok(match k {
        "clientIP" => KeyPart::ClientIp,
        "identity" => KeyPart::Identity,
        "model" => KeyPart::Model,
        "route" => KeyPart::Route,
        "tool" => KeyPart::Tool,
        _ => {
            if let Some(h) = named("header:") {
                KeyPart::Header(
                    HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("{h:?} is not a header name"))?,
                )
            } else if let Some(c) = named("claim:") {
                KeyPart::Claim(c)
            } else if let Some(a) = named("attribute:") {
                KeyPart::Attribute(a)
            } else {
                return Err(format!(
                    "{k:?} is not a key part (clientIP, identity, model, route, tool, header:<name>, claim:<name>, attribute:<name>)"
                ));
            }
        }
    })
}
