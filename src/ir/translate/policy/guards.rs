//! The guards of a TrafficPolicy, compiled: built-in detectors chosen, custom patterns
//! compiled with their longest match, actions and scopes read.

use regex::Regex;

use super::super::refs::{RefFailure, invalid};
use crate::api::{Guard, GuardAction};
use crate::ir::policy::{Check, DetectorIr, GuardActionIr, GuardIr, GuardScope};

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

pub fn compile(guards: &[Guard]) -> Result<Vec<GuardIr>, RefFailure> {
    guards.iter().enumerate().map(|(i, g)| guard(g).map_err(|m| invalid(format!("spec.guards[{i}].{m}")))).collect()
}

fn guard(g: &Guard) -> Result<GuardIr, String> {
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
    if detectors.is_empty() {
        return Err("detect: set detectors or regex patterns".into());
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
    Ok(GuardIr { name: g.name.clone(), detectors, action, scope })
}
