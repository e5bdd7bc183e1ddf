//! One keyed GCRA limiter (the generic cell rate algorithm, as `governor` implements it) that
//! can also give cells back and take more after the fact: token limits reserve an estimate at
//! admission and settle with the provider's real usage when the answer ends, which `governor`
//! cannot do. Request and token limits share it. Time is tokio's, so tests run on paused time.
//! Keys idle long enough to be back at full capacity are evicted: memory stays bounded.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Keys kept before idle ones are swept out.
const SWEEP_AT: usize = 4096;
/// Keys kept at most: past this, a new key is refused rather than grow memory (a flood of
/// distinct keys is itself refused).
const MAX_KEYS: usize = 100_000;

/// A limit's shape: `limit` cells per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub limit: u64,
    pub period: Duration,
    pub burst: u64,
}

impl Quota {
    /// The time `n` cells take to come back: `n` × period ÷ limit, to the nanosecond, computed
    /// whole (a rounded time per cell would be off by up to a nanosecond per cell: a large
    /// reservation, or a limit of more cells than a period has nanoseconds, would be far off).
    fn time_of(&self, n: u64) -> Duration {
        let ns = self.period.as_nanos().saturating_mul(u128::from(n)) / u128::from(self.limit.max(1));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The cells that come back in `d`, rounded down.
    fn cells_in(&self, d: Duration) -> u64 {
        let ns = d.as_nanos().saturating_mul(u128::from(self.limit)) / self.period.as_nanos().max(1);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// How far the theoretical arrival time may run ahead of now.
    fn tolerance(&self) -> Duration {
        self.time_of(self.burst.max(1))
    }
}

/// A decision, with what the rate-limit headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// The quota's burst (the most that can be used at once).
    pub limit: u64,
    /// Cells left now.
    pub remaining: u64,
    /// Until the limiter is back at full capacity.
    pub reset: Duration,
    /// For a refusal: until the cells asked for would fit.
    pub retry_after: Duration,
}

type Keys = HashMap<String, Instant, RandomState>;

pub struct Limiter {
    quota: Quota,
    /// Theoretical arrival time per key. Keys come from clients (addresses, headers): the map's
    /// hash is seeded at random per map (foldhash: as resistant to prepared collisions as
    /// hashbrown's default, at a fraction of SipHash's cost).
    tat: Mutex<Keys>,
}

impl Limiter {
    pub fn new(quota: Quota) -> Self {
        Limiter { quota, tat: Mutex::new(Keys::default()) }
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.tat.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn decision(&self, allowed: bool, tat: Instant, now: Instant, retry_after: Duration) -> Decision {
        let ahead = tat.saturating_duration_since(now);
        let free = self.quota.tolerance().saturating_sub(ahead);
        let remaining = self.quota.cells_in(free);
        Decision {
            allowed,
            limit: self.quota.burst,
            remaining: remaining.min(self.quota.burst),
            reset: ahead,
            retry_after,
        }
    }

    /// Takes `n` cells for `key` if they fit now.
    pub fn take(&self, key: &str, n: u64) -> Decision {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= SWEEP_AT && !map.contains_key(key) {
            // Keys whose arrival time has passed are at full capacity: forgetting them changes nothing.
            map.retain(|_, tat| *tat > now);
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let cost = self.quota.time_of(n);
        let new_tat = tat + cost;
        let over = new_tat.saturating_duration_since(now);
        let tolerance = self.quota.tolerance();
        if over > tolerance || n > self.quota.burst || (map.len() >= MAX_KEYS && !map.contains_key(key)) {
            return self.decision(false, tat, now, over.saturating_sub(tolerance).max(Duration::from_millis(1)));
        }
        match map.get_mut(key) {
            Some(t) => *t = new_tat,
            None => {
                map.insert(key.to_string(), new_tat);
            }
        }
        self.decision(true, new_tat, now, Duration::ZERO)
    }

    /// Settles a reservation: `delta` more cells were used than taken (negative: fewer, given
    /// back). Taking more may run past the limit: later requests wait for it.
    pub fn settle(&self, key: &str, delta: i64) {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(tat) = map.get_mut(key) else { return };
        let d = self.quota.time_of(delta.unsigned_abs());
        if delta >= 0 {
            *tat += d;
        } else {
            *tat = tat.checked_sub(d).unwrap_or(now).max(now);
        }
    }

    /// The state of `key` without taking anything.
    pub fn peek(&self, key: &str) -> Decision {
        let now = Instant::now();
        let tat = self.lock().get(key).copied().unwrap_or(now).max(now);
        self.decision(true, tat, now, Duration::ZERO)
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(limit: u64, burst: u64) -> Limiter {
        Limiter::new(Quota { limit, period: Duration::from_secs(60), burst })
    }

    #[tokio::test(start_paused = true)]
    async fn requests_up_to_the_burst_then_at_the_rate() {
        let l = per_minute(60, 3);
        for i in 0..3 {
            let d = l.take("k", 1);
            assert!(d.allowed, "{i}");
            assert_eq!(d.remaining, 2 - i);
        }
        let refused = l.take("k", 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(1), "one per second after the burst");
        assert_eq!(refused.reset, Duration::from_secs(3));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.take("k", 1).allowed);
        assert!(l.take("other", 1).allowed, "keys are separate");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(l.peek("k").remaining, 3, "back at full capacity");
    }

    #[tokio::test(start_paused = true)]
    async fn periods_roll_over() {
        let day = Limiter::new(Quota { limit: 2, period: Duration::from_secs(86_400), burst: 2 });
        assert!(day.take("k", 1).allowed && day.take("k", 1).allowed);
        assert!(!day.take("k", 1).allowed);
        tokio::time::advance(Duration::from_secs(43_200)).await;
        assert!(day.take("k", 1).allowed, "half a day gives one back");
        assert!(!day.take("k", 1).allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn reservations_settle_both_ways() {
        let tokens = per_minute(6000, 6000);
        assert!(tokens.take("k", 4000).allowed, "a reservation of prompt + max output");
        assert!(!tokens.take("k", 2500).allowed, "only 2000 left while it runs");
        tokens.settle("k", -3500);
        assert_eq!(tokens.peek("k").remaining, 5500, "the answer used 500: the rest is given back");
        tokens.settle("k", 9000);
        assert!(!tokens.take("k", 1).allowed, "used more than reserved: later requests wait");
        assert!(!tokens.take("k", 7000).allowed, "more than the burst never fits");
    }

    /// Limits past `u32::MAX` cells, and cells shorter than a nanosecond, keep their figures.
    #[tokio::test(start_paused = true)]
    async fn large_limits_are_exact() {
        let month = Duration::from_secs(30 * 86_400);
        let l = Limiter::new(Quota { limit: 5_000_000_000, period: month, burst: 5_000_000_000 });
        assert!(l.take("k", 4_000_000_000).allowed);
        assert_eq!(l.peek("k").remaining, 1_000_000_000);
        assert!(!l.take("k", 1_000_000_001).allowed, "one past the limit");
        tokio::time::advance(month / 5).await;
        assert_eq!(l.peek("k").remaining, 2_000_000_000, "a fifth of the month gives a fifth back");
        let fast =
            Limiter::new(Quota { limit: 100_000_000_000, period: Duration::from_secs(60), burst: 100_000_000_000 });
        let d = fast.take("k", 60_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 100_000_000_000 - 60_000);
        assert_eq!(d.reset, Duration::from_nanos(36_000), "60,000 of 10^11 per minute");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_swept() {
        let l = per_minute(600, 10);
        for i in 0..SWEEP_AT {
            l.take(&format!("k{i}"), 1);
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        l.take("new", 1);
        assert_eq!(l.keys(), 1, "every old key was back at full capacity");
    }
}
