//! Budgets: spend in USD (the provider catalog's prices, per token class) per identity,
//! attribute, claim or route, per UTC day, week (from Monday) or month. Checked when an AI
//! request's model is known: at the hard limit the request is refused (403) until the period
//! rolls; past the soft threshold answers carry `x-sluice-budget-warning`. Recorded when the
//! answer ends. Spend lives in the [`Store`] (a local database file by default), so it
//! survives a restart.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde::Serialize;

use super::Denial;
use super::identity::Identity;
use crate::ir::policy::{BudgetIr, BudgetPeriod, KeyPart};
use crate::store::Store;

/// Key prefix of budget counters in the store.
const PREFIX: &str = "budget|";

/// `y-m-d` of Unix days (Howard Hinnant's civil-from-days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The period a moment falls in, and when the next one starts (both as UTC dates).
pub fn period(p: BudgetPeriod, unix: u64) -> (String, String) {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let date = |d: i64| {
        let (y, m, dd) = civil(d);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    match p {
        BudgetPeriod::Day => (date(days), date(days + 1)),
        BudgetPeriod::Week => {
            // 1970-01-01 was a Thursday: Monday-based weekday.
            let monday = days - (days + 3).rem_euclid(7);
            (format!("week-of-{}", date(monday)), date(monday + 7))
        }
        BudgetPeriod::Month => {
            let (y, m, _) = civil(days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (format!("{y:04}-{m:02}"), format!("{ny:04}-{nm:02}-01"))
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn key(b: &BudgetIr, identity: &Identity, route: &str, period: &str) -> String {
    let mut k = format!("{PREFIX}{}|{period}|", b.id);
    for (i, part) in b.key.iter().enumerate() {
        if i > 0 {
            k.push(',');
        }
        match part {
            KeyPart::Identity => k.push_str(&identity.name),
            KeyPart::Attribute(a) => k.push_str(&identity.attribute(a).unwrap_or_default()),
            KeyPart::Claim(c) => k.push_str(&identity.claims.get(c).map(|v| v.to_string()).unwrap_or_default()),
            KeyPart::Route => k.push_str(route),
            KeyPart::ClientIp | KeyPart::Model | KeyPart::Tool | KeyPart::Header(_) => {}
        }
    }
    k
}

/// What a request's budgets said: the counters to record its cost in, the warning headers.
#[derive(Default)]
pub struct Spend {
    counters: Vec<String>,
    pub headers: HeaderMap,
}

impl Spend {
    /// Records what the request cost.
    pub fn record(&self, store: &dyn Store, usd: f64) {
        if usd > 0.0 && usd.is_finite() {
            for k in &self.counters {
                store.add(k, usd);
            }
        }
    }
}

/// Checks the budgets for a request.
pub fn check(store: &dyn Store, budgets: &[BudgetIr], identity: &Identity, route: &str) -> Result<Spend, Denial> {
    let mut out = Spend::default();
    let t = now();
    let mut warnings = Vec::new();
    for b in budgets {
        let (p, next) = period(b.period, t);
        let k = key(b, identity, route, &p);
        let spent = store.get(&k);
        if spent >= b.usd {
            return Err(Denial::forbidden(format!(
                "budget {:?} is spent (${spent:.4} of ${:.2} this {}); it renews on {next}",
                b.name,
                b.usd,
                match b.period {
                    BudgetPeriod::Day => "day",
                    BudgetPeriod::Week => "week",
                    BudgetPeriod::Month => "month",
                }
            )));
        }
        if b.soft_usd.is_some_and(|s| spent >= s) {
            tracing::warn!(budget = %b.name, spent, limit = b.usd, "budget past its soft threshold");
            warnings.push(b.name.clone());
        }
        out.counters.push(k);
    }
    if let Ok(v) = HeaderValue::from_str(&warnings.join(", "))
        && !warnings.is_empty()
    {
        out.headers.insert("x-sluice-budget-warning", v);
    }
    Ok(out)
}

/// One budget counter, for the admin plane's `/budgets`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetState {
    pub budget: String,
    pub period: String,
    pub key: String,
    pub spent_usd: f64,
}

pub fn states(store: &Arc<dyn Store>) -> Vec<BudgetState> {
    store
        .entries(PREFIX)
        .into_iter()
        .filter_map(|(k, v)| {
            let mut parts = k.strip_prefix(PREFIX)?.splitn(3, '|');
            Some(BudgetState {
                budget: parts.next()?.to_string(),
                period: parts.next()?.to_string(),
                key: parts.next()?.to_string(),
                spent_usd: v,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Memory;

    #[test]
    fn periods_are_calendar_periods_in_utc() {
        // 2026-12-04 (a Friday) 12:00 UTC.
        let t = 1_796_385_600;
        assert_eq!(period(BudgetPeriod::Day, t), ("2026-12-04".into(), "2026-12-05".into()));
        assert_eq!(period(BudgetPeriod::Week, t), ("week-of-2026-11-30".into(), "2026-12-07".into()));
        assert_eq!(period(BudgetPeriod::Month, t), ("2026-12".into(), "2027-01-01".into()));
        assert_eq!(period(BudgetPeriod::Day, 0).0, "1970-01-01");
    }

    #[test]
    fn soft_then_hard() {
        let store = Memory::default();
        let b = [BudgetIr {
            id: "default/p/team".into(),
            name: "team".into(),
            usd: 1.0,
            soft_usd: Some(0.5),
            period: BudgetPeriod::Month,
            key: vec![KeyPart::Attribute("team".into())],
        }];
        let ml = Identity { attributes: [("team".to_string(), "ml".to_string())].into(), ..Identity::default() };
        let s = check(&store, &b, &ml, "r").expect("fresh");
        assert!(s.headers.is_empty());
        s.record(&store, 0.6);
        let s = check(&store, &b, &ml, "r").expect("soft");
        assert_eq!(s.headers["x-sluice-budget-warning"], "team");
        s.record(&store, 0.4);
        let d = check(&store, &b, &ml, "r").err().expect("hard");
        assert_eq!(d.status, http::StatusCode::FORBIDDEN);
        let other = Identity { attributes: [("team".to_string(), "web".to_string())].into(), ..Identity::default() };
        assert!(check(&store, &b, &other, "r").is_ok(), "another team's budget");
        assert_eq!(states(&(Arc::new(store) as Arc<dyn Store>)).len(), 1);
    }
}
