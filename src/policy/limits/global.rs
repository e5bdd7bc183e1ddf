//! Global limits: the same GCRA as the local limiter, kept in Redis (or Valkey) so that every
//! replica shares one count. Each decision is one atomic Lua script on the server's own clock;
//! the connection manager reconnects by itself. A decision that Redis cannot give in time
//! follows the limit's failure mode (the caller's business).

use std::time::Duration;

use redis::Script;
use tokio::sync::OnceCell;

use super::gcra::{Decision, Quota};
use crate::store::redis::{Conn, Target};

/// Takes `n` cells if they fit: `{allowed, ahead_us, retry_us}`.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local e = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local new = tat + n * e
local over = new - now
if over > tol then
  return {0, tat - now, over - tol}
end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil(over / 1000) + 1000)
return {1, new - now, 0}
";

/// Moves the arrival time by `delta_us` (a settled reservation), never before now.
const SETTLE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + tonumber(ARGV[1])
if new <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 1
";

pub struct Global {
    target: Target,
    conn: OnceCell<Conn>,
    take: Script,
    settle: Script,
}

/// Microseconds per cell, fractional: Redis's clock is in microseconds, and a limit of more
/// than a million cells a second (tokens) has cells shorter than one. Lua's numbers are
/// doubles: exact to the microsecond for centuries of arrival time.
fn per_cell(quota: Quota) -> f64 {
    quota.period.as_secs_f64() * 1e6 / quota.limit.max(1) as f64
}

impl Global {
    pub fn new(target: Target) -> Global {
        Global { target, conn: OnceCell::new(), take: Script::new(TAKE), settle: Script::new(SETTLE) }
    }

    async fn manager(&self) -> Result<Conn, String> {
        self.conn.get_or_try_init(|| self.target.connect()).await.cloned().map_err(|e| format!("Redis: {e}"))
    }

    /// Takes `n` cells of `quota` for `key`.
    pub async fn take(&self, quota: Quota, key: &str, n: u64) -> Result<Decision, String> {
        let mut c = self.manager().await?;
        let e = per_cell(quota);
        let tol = e * quota.burst.max(1) as f64;
        let (allowed, ahead, retry): (i64, i64, i64) = self
            .take
            .key(format!("sluice:rl:{key}"))
            .arg(e)
            .arg(tol)
            .arg(n)
            .invoke_async(&mut c)
            .await
            .map_err(|e| format!("Redis: {e}"))?;
        let ahead = Duration::from_micros(u64::try_from(ahead).unwrap_or(0));
        let free = (tol - ahead.as_micros() as f64).max(0.0);
        // A float to an integer saturates; a cell of no time leaves the whole burst.
        let remaining = if e > 0.0 { (free / e) as u64 } else { quota.burst };
        Ok(Decision {
            allowed: allowed == 1 && n <= quota.burst,
            limit: quota.burst,
            remaining: remaining.min(quota.burst),
            reset: ahead,
            retry_after: Duration::from_micros(u64::try_from(retry).unwrap_or(0)).max(if allowed == 1 {
                Duration::ZERO
            } else {
                Duration::from_millis(1)
            }),
        })
    }

    /// Settles a reservation of `key`: `delta` more cells used than taken (negative: fewer).
    pub async fn settle(&self, quota: Quota, key: &str, delta: i64) -> Result<(), String> {
        let mut c = self.manager().await?;
        let _: i64 = self
            .settle
            .key(format!("sluice:rl:{key}"))
            .arg(delta as f64 * per_cell(quota))
            .invoke_async(&mut c)
            .await
            .map_err(|e| format!("Redis: {e}"))?;
        Ok(())
    }
}
