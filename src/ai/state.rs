//! Provider health that outlives reloads: consecutive failures and ejection, keyed by the
//! provider's stable id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

// Tokio's clock, so that tests can run ejection on paused time.
use tokio::time::Instant;

/// The longest a provider's `Retry-After` ejects it for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct AiState {
    health: Mutex<HashMap<String, Health>>,
}

#[derive(Default, Clone, Copy)]
struct Health {
    failures: u32,
    ejected_until: Option<Instant>,
}

impl AiState {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Health>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_ejected(&self, id: &str) -> bool {
        self.lock().get(id).and_then(|h| h.ejected_until).is_some_and(|t| t > Instant::now())
    }

    pub fn success(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Counts a failure; ejects after `threshold` in a row, or at once for `retry_after` (at
    /// most [`MAX_RETRY_AFTER`]). Whether the provider was ejected now.
    pub fn failure(&self, id: &str, threshold: u32, ejection: Duration, retry_after: Option<Duration>) -> bool {
        let mut map = self.lock();
        let h = map.entry(id.to_string()).or_default();
        h.failures += 1;
        let now = Instant::now();
        if let Some(d) = retry_after {
            // A provider's word, bounded: a huge Retry-After would overflow the clock or eject
            // the provider for years.
            h.ejected_until = now.checked_add(d.min(MAX_RETRY_AFTER));
            true
        } else if h.failures >= threshold {
            h.ejected_until = now.checked_add(ejection);
            h.failures = 0;
            true
        } else {
            false
        }
    }
}
