//! HTTPRoute retries (GEP-1731): how many attempts a request gets, which answers are tried
//! again, and the backoff between attempts. The request loop asks [`Retries`] after each failed
//! attempt; a request whose body could not be kept for a replay is never retried.

use http::StatusCode;

use crate::ir::route::Retry;

/// The retries left to one request.
pub struct Retries<'r> {
    policy: Option<&'r Retry>,
    /// Attempts made so far (the one under way included).
    made: u32,
    allowed: u32,
}

impl<'r> Retries<'r> {
    pub fn new(policy: Option<&'r Retry>) -> Self {
        Retries { policy, made: 1, allowed: 1 + policy.map_or(0, |r| r.attempts) }
    }

    /// Whether the attempt under way is the last one allowed.
    pub fn is_last(&self) -> bool {
        self.made >= self.allowed
    }

    /// Whether an answer with `status` is one the route retries.
    pub fn retries_status(&self, status: StatusCode) -> bool {
        self.policy.is_some_and(|r| r.codes.contains(&status.as_u16()))
    }

    /// After a failed attempt: whether to make another (one is left, and the request can be
    /// replayed). Waits the backoff first when it says yes.
    pub async fn again(&mut self, replayable: bool) -> bool {
        if self.policy.is_none() || self.is_last() || !replayable {
            return false;
        }
        if let Some(d) = self.policy.and_then(|r| r.backoff) {
            tokio::time::sleep(d).await;
        }
        self.made += 1;
        true
    }

    #[cfg(test)]
    fn made(&self) -> u32 {
        self.made
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(attempts: u32, backoff: Option<Duration>) -> Retry {
        Retry { codes: vec![503], attempts, backoff }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_the_backoff_and_stop_at_the_limit() {
        let p = policy(2, Some(Duration::from_millis(250)));
        let mut r = Retries::new(Some(&p));
        let start = tokio::time::Instant::now();
        assert!(r.retries_status(StatusCode::SERVICE_UNAVAILABLE) && !r.retries_status(StatusCode::BAD_GATEWAY));
        assert!(!r.is_last());
        assert!(r.again(true).await);
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        assert!(r.again(true).await);
        assert!(r.is_last(), "1 attempt + 2 retries");
        assert!(!r.again(true).await);
        assert_eq!((r.made(), start.elapsed()), (3, Duration::from_millis(500)), "no wait for a refused retry");
    }

    #[tokio::test(start_paused = true)]
    async fn no_policy_or_no_replayable_body_means_no_retry() {
        let cases: [(Option<Retry>, bool); 3] =
            [(None, true), (Some(policy(3, None)), false), (Some(policy(0, Some(Duration::from_secs(1)))), true)];
        for (p, replayable) in cases {
            let mut r = Retries::new(p.as_ref());
            let start = tokio::time::Instant::now();
            assert!(!r.again(replayable).await, "{p:?} replayable={replayable}");
            assert_eq!(start.elapsed(), Duration::ZERO);
        }
    }
}
