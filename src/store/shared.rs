//! The Redis store: counters shared by every replica (`INCRBYFLOAT` on the server). Requests
//! read a local copy, refreshed from Redis in the background every [`REFRESH`] for the keys
//! this process has used, and additions are sent in the background too: a request never waits
//! on Redis, and replicas see each other's spend within about a second. When Redis is away the
//! local copy keeps counting, and additions are retried as it comes back.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::redis::{Conn, Target};
use redis::AsyncCommands;

use super::Store;

const REFRESH: Duration = Duration::from_secs(1);
/// Additions waiting for Redis, at most (older ones are dropped with a log line).
const MAX_PENDING: usize = 100_000;

#[derive(Default)]
struct State {
    /// The local copy: totals as last read, plus what was added since.
    totals: BTreeMap<String, f64>,
    /// Additions not yet in Redis.
    pending: HashMap<String, f64>,
}

pub struct Shared {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Counters in the Redis at `url`, under keys starting with `prefix`; the background task
    /// runs on the current tokio runtime.
    pub fn connect(target: Target, prefix: &str) -> Shared {
        let state = Arc::new(Mutex::new(State::default()));
        let (task_state, task_prefix) = (state.clone(), prefix.to_string());
        tokio::spawn(async move {
            let mut manager: Option<Conn> = None;
            loop {
                tokio::time::sleep(REFRESH / 4).await;
                if manager.is_none() {
                    manager = target.connect().await.ok();
                }
                let Some(c) = manager.as_mut() else { continue };
                if let Err(e) = sync(c, &task_state, &task_prefix).await {
                    tracing::warn!(error = %e, "syncing shared counters with Redis failed");
                }
            }
        });
        Shared { state }
    }
}

/// Sends pending additions, then reads back every known total.
async fn sync(c: &mut Conn, state: &Mutex<State>, prefix: &str) -> Result<(), redis::RedisError> {
    let pending: Vec<(String, f64)> = lock(state).pending.drain().collect();
    for (i, (k, v)) in pending.iter().enumerate() {
        if let Err(e) = c.incr::<_, _, f64>(format!("{prefix}{k}"), *v).await {
            // Not sent: kept for the next round.
            let mut s = lock(state);
            for (k, v) in &pending[i..] {
                *s.pending.entry(k.clone()).or_default() += v;
            }
            return Err(e);
        }
    }
    let keys: Vec<String> = lock(state).totals.keys().cloned().collect();
    if keys.is_empty() {
        return Ok(());
    }
    let full: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
    let values: Vec<Option<f64>> = c.mget(&full).await?;
    let mut s = lock(state);
    for (k, v) in keys.into_iter().zip(values) {
        // What Redis has, plus what is still on its way there.
        let local = s.pending.get(&k).copied().unwrap_or_default();
        s.totals.insert(k, v.unwrap_or_default() + local);
    }
    Ok(())
}

impl Store for Shared {
    fn add(&self, key: &str, amount: f64) -> f64 {
        let mut s = lock(&self.state);
        if s.pending.len() >= MAX_PENDING && !s.pending.contains_key(key) {
            tracing::error!("too many additions wait for Redis: one is dropped");
        } else {
            *s.pending.entry(key.to_string()).or_default() += amount;
        }
        let v = s.totals.entry(key.to_string()).or_default();
        *v += amount;
        *v
    }

    fn get(&self, key: &str) -> f64 {
        let mut s = lock(&self.state);
        // A key read for the first time is refreshed from Redis from the next round on.
        *s.totals.entry(key.to_string()).or_default()
    }

    fn entries(&self, prefix: &str) -> Vec<(String, f64)> {
        super::with_prefix(&lock(&self.state).totals, prefix)
    }
}
