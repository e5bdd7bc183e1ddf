//! Tokens and spend by identity, for the dashboard and the admin plane's `/usage`. Identities
//! are never metric labels (there is no bound on them); here they are bounded too: the first
//! [`MAX_IDENTITIES`] seen since the process started are kept by name, and any later one adds up
//! under `others`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// Identities kept by name.
pub const MAX_IDENTITIES: usize = 4096;

/// What one identity (or the rest) used.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// From the catalog's prices; answers of models without a price add nothing.
    pub cost_usd: f64,
}

impl Totals {
    fn add(&mut self, input: u64, output: u64, cost_usd: Option<f64>) {
        self.requests += 1;
        self.input_tokens += input;
        self.output_tokens += output;
        self.cost_usd += cost_usd.unwrap_or(0.0);
    }
}

/// One row of [`Usage::top`]: `identity` is `null` for requests without one (no policy, or
/// anonymous access).
#[derive(Debug, Serialize)]
pub struct Row {
    pub identity: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The largest users, and what the rest used together.
#[derive(Debug, Serialize)]
pub struct Top {
    pub identities: Vec<Row>,
    /// Identities kept by name but not among the rows, with those past the bound.
    pub others: Totals,
    /// Identities kept by name, and the bound.
    pub tracked: usize,
    pub limit: usize,
}

#[derive(Debug, Default)]
pub struct Usage {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_identity: HashMap<Option<String>, Totals>,
    /// Identities past the bound.
    overflow: Totals,
}

impl Usage {
    /// One answer's usage for `identity`.
    pub fn record(&self, identity: Option<&str>, input: u64, output: u64, cost_usd: Option<f64>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = identity.map(str::to_string);
        if let Some(t) = inner.by_identity.get_mut(&key) {
            t.add(input, output, cost_usd);
        } else if inner.by_identity.len() < MAX_IDENTITIES {
            inner.by_identity.entry(key).or_default().add(input, output, cost_usd);
        } else {
            inner.overflow.add(input, output, cost_usd);
        }
    }

    /// The `n` identities that spent most (then used most tokens), and the rest.
    pub fn top(&self, n: usize) -> Top {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<Row> =
            inner.by_identity.iter().map(|(k, t)| Row { identity: k.clone(), totals: t.clone() }).collect();
        let tracked = rows.len();
        let mut others = inner.overflow.clone();
        drop(inner);
        rows.sort_by(|a, b| {
            let tokens = |r: &Row| r.totals.input_tokens + r.totals.output_tokens;
            b.totals
                .cost_usd
                .total_cmp(&a.totals.cost_usd)
                .then(tokens(b).cmp(&tokens(a)))
                .then(a.identity.cmp(&b.identity))
        });
        for rest in rows.split_off(n.min(rows.len())) {
            let t = rest.totals;
            others.requests += t.requests;
            others.input_tokens += t.input_tokens;
            others.output_tokens += t.output_tokens;
            others.cost_usd += t.cost_usd;
        }
        Top { identities: rows, others, tracked, limit: MAX_IDENTITIES }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_spenders_come_first_and_the_rest_add_up() {
        let usage = Usage::default();
        usage.record(Some("alice"), 10, 5, Some(0.5));
        usage.record(Some("bob"), 100, 50, Some(0.1));
        usage.record(Some("alice"), 1, 1, Some(0.25));
        usage.record(None, 7, 3, None);
        let top = usage.top(2);
        let names: Vec<_> = top.identities.iter().map(|r| r.identity.clone()).collect();
        assert_eq!(names, [Some("alice".to_string()), Some("bob".to_string())]);
        assert_eq!(
            top.identities[0].totals,
            Totals { requests: 2, input_tokens: 11, output_tokens: 6, cost_usd: 0.75 }
        );
        assert_eq!(top.others, Totals { requests: 1, input_tokens: 7, output_tokens: 3, cost_usd: 0.0 });
        assert_eq!(top.tracked, 3);
    }

    #[test]
    fn identities_past_the_bound_add_up_together() {
        let usage = Usage::default();
        for i in 0..MAX_IDENTITIES + 10 {
            usage.record(Some(&format!("user-{i}")), 1, 1, None);
        }
        usage.record(Some("user-0"), 1, 1, None);
        let top = usage.top(1);
        assert_eq!(top.tracked, MAX_IDENTITIES);
        assert_eq!(top.identities[0].identity.as_deref(), Some("user-0"));
        assert_eq!(top.identities[0].totals.requests, 2);
        assert_eq!(top.others.requests, (MAX_IDENTITIES + 10 - 1) as u64);
    }
}
