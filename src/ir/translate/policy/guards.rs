//! The guards of a TrafficPolicy, compiled: built-in detectors chosen, custom patterns
//! compiled with their longest match, actions and scopes read.

use regex::Regex;

use std::sync::Arc;
use std::time::Duration;

use super::super::duration;
use super::super::index::Index;
use super::super::refs::{RefFailure, invalid};
use crate::api::{Guard, GuardAction, GuardModeration, GuardWebhook};
use crate::catalog::WireFormat;
use crate::ir::policy::{Check, DetectorIr, GuardActionIr, GuardIr, GuardScope, RemoteGuardIr};

/// Where a policy's references resolve: the configuration and the policy's namespace.
type Where<'a, 'b> = Option<(&'a Index<'b>, &'a str)>;

/// The built-in detectors: name, pattern, check, longest match, fewest digits a match has (a
/// text with fewer is not searched: prose seldom has a dozen digits).
const BUILT_INS: [(&str, &str, Check, usize, usize); 9] = [
    ("creditCard", r"\b(?:\d[ -]?){12,18}\d\b", Check::Luhn, 23, 13),
    ("ssn", r"\b\d{3}-\d{2}-\d{4}\b", Check::None, 11, 9),
    ("email", r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,24}\b", Check::None, 254, 0),
    ("phone", r"(?:\+\d{1,3}[ .-]?)?\(?\b\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b", Check::None, 22, 10),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", Check::Iban, 46, 2),
    ("secrets", r"\bsk-ant-[A-Za-z0-9_-]{20,200}", Check::None, 210, 0),
    ("secrets", r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,200}", Check::None, 210, 0),
    ("secrets", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", Check::None, 20, 0),
    ("secrets", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}", Check::None, 266, 0),
];

const DETECTORS: [&str; 6] = ["creditCard", "ssn", "email", "phone", "iban", "secrets"];

/// Longest custom pattern accepted, and the default longest match of one.
const MAX_PATTERN: usize = 1024;
const DEFAULT_MAX_LEN: usize = 64;
const LONGEST_MAX_LEN: usize = 4096;

/// Guards with detectors only (remote guards need [`compile_in`]).
pub fn compile(guards: &[Guard]) -> Result<Vec<GuardIr>, RefFailure> {
    compile_in(None, guards)
}

/// Guards of a policy in the configuration `at`, remote ones resolved there.
pub fn compile_in(at: Where<'_, '_>, guards: &[Guard]) -> Result<Vec<GuardIr>, RefFailure> {
    guards
        .iter()
        .enumerate()
        .map(|(i, g)| guard(at, g).map_err(|(r, m)| (r, format!("spec.guards[{i}].{m}"))))
        .collect()
}

fn remote(at: Where<'_, '_>, g: &Guard) -> Result<Option<RemoteGuardIr>, RefFailure> {
    let timeout = |t: &Option<String>, default: u64, field: &str| match t {
        None => Ok(Duration::from_secs(default)),
        Some(t) => duration::parse(t).map_err(|m| invalid(format!("{field}.timeout: {m}"))),
    };
    let (webhook, moderation) = (&g.webhook, &g.moderation);
    if (webhook.is_some() || moderation.is_some()) && (!g.detect.is_empty() || !g.regex.is_empty()) {
        return Err(invalid("a guard has detectors or regex patterns, or a webhook, or moderation: one of them"));
    }
    let Some((ix, ns)) = at else {
        return match webhook.is_some() || moderation.is_some() {
            true => Err(invalid("webhook and moderation guards are resolved in a configuration")),
            false => Ok(None),
        };
    };
    match (webhook, moderation) {
        (Some(_), Some(_)) => Err(invalid("webhook or moderation: one of them")),
        (Some(GuardWebhook { backend_ref, path, timeout: t, fail_open }), None) => {
            let (upstream, authority) = super::service::resolve(ix, ns, backend_ref, "webhook.backendRef")?;
            let path = path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                return Err(invalid("webhook.path: starts with /"));
            }
            Ok(Some(RemoteGuardIr::Webhook {
                upstream: Arc::new(upstream),
                authority,
                path,
                timeout: timeout(t, 2, "webhook")?,
                fail_open: fail_open.unwrap_or(false),
            }))
        }
        (None, Some(GuardModeration { backend, model, thresholds, timeout: t, fail_open })) => {
            let b =
                super::super::ai::resolve(ix, ns, backend).map_err(|(r, m)| (r, format!("moderation.backend: {m}")))?;
            match b.groups.first().and_then(|g| g.first()) {
                Some(p) if p.kind == WireFormat::OpenAi => {}
                _ => return Err(invalid("moderation.backend: its first provider must be of type openai")),
            }
            if let Some((c, t)) = thresholds.iter().find(|(_, t)| !(0.0..=1.0).contains(*t)) {
                return Err(invalid(format!("moderation.thresholds.{c}: {t} is not between 0 and 1")));
            }
            Ok(Some(RemoteGuardIr::Moderation {
                backend: b,
                backend_name: format!("{ns}/{backend}"),
                model: model.clone(),
                thresholds: thresholds.clone(),
                timeout: timeout(t, 5, "moderation")?,
                fail_open: fail_open.unwrap_or(false),
            }))
        }
        (None, None) => Ok(None),
    }
}

fn guard(at: Where<'_, '_>, g: &Guard) -> Result<GuardIr, RefFailure> {
    let remote = remote(at, g)?;
    let local = |m: String| invalid(m);
    let (detectors, action, scope) = local_parts(g, remote.is_some()).map_err(local)?;
    Ok(GuardIr { name: g.name.clone(), detectors, action, scope, remote })
}

type LocalParts = (Vec<DetectorIr>, GuardActionIr, GuardScope);

fn local_parts(g: &Guard, remote: bool) -> Result<LocalParts, String> {
    let mut detectors = Vec::new();
    for d in &g.detect {
        if !DETECTORS.contains(&d.as_str()) {
            return Err(format!("detect: {d:?} is not a detector ({})", DETECTORS.join(", ")));
        }
        for (name, pattern, check, max_len, min_digits) in BUILT_INS.iter().filter(|b| b.0 == d) {
            let regex = Regex::new(pattern).map_err(|e| format!("detect: {e}"))?;
            let (check, max_len, min_digits) = (*check, *max_len, *min_digits);
            detectors.push(DetectorIr { name: (*name).into(), regex, check, max_len, min_digits });
        }
    }
    for (j, r) in g.regex.iter().enumerate() {
        if r.pattern.len() > MAX_PATTERN {
            return Err(format!("regex[{j}].pattern: longer than {MAX_PATTERN} characters"));
        }
        let regex = regex::RegexBuilder::new(&r.pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("regex[{j}].pattern: {e}"))?;
        let max_len = r.max_length.unwrap_or(DEFAULT_MAX_LEN);
        if max_len == 0 || max_len > LONGEST_MAX_LEN {
            return Err(format!("regex[{j}].maxLength: between 1 and {LONGEST_MAX_LEN}"));
        }
        detectors.push(DetectorIr { name: "regex".into(), regex, check: Check::None, max_len, min_digits: 0 });
    }
    if detectors.is_empty() && !remote {
        return Err("detect: set detectors, regex patterns, a webhook or moderation".into());
    }
    let action = match g.action.unwrap_or_default() {
        GuardAction::Mask => {
            GuardActionIr::Mask { replacement: g.replacement.clone().unwrap_or_else(|| "[REDACTED]".into()) }
        }
        GuardAction::Reject => {
            let status = g.status.unwrap_or(400);
            if !(400..=599).contains(&status) {
                return Err("status: a 4xx or 5xx status".into());
            }
            let message = g.message.clone().unwrap_or_else(|| format!("the request was refused by guard {:?}", g.name));
            GuardActionIr::Reject { status, message }
        }
    };
    let all = g.scope.is_empty();
    let has = |s: &str| all || g.scope.iter().any(|x| x == s);
    for s in &g.scope {
        if !["system", "user", "toolInputs", "toolResults", "output"].contains(&s.as_str()) {
            return Err(format!("scope: {s:?} is not a scope (system, user, toolInputs, toolResults, output)"));
        }
    }
    let scope = GuardScope {
        system: has("system"),
        user: has("user"),
        tool_inputs: has("toolInputs"),
        tool_results: has("toolResults"),
        output: has("output"),
    };
    Ok((detectors, action, scope))
}
