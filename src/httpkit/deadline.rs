//! Deadlines: a fallible future run within a time limit, its timeout turned into the caller's
//! own error. The one timeout wrapper of the data path.

use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;

/// Runs `work` within `limit`; past it, the work is dropped and the answer is
/// `on_timeout(limit)`.
///
/// Plain functions, not `async fn`s: an `async fn` keeps its `work` argument beside the state that
/// awaits it, so every request's future would hold the work twice (memory per open stream).
pub fn within<T, E, F, O>(limit: Duration, work: F, on_timeout: O) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    O: FnOnce(Duration) -> E,
{
    tokio::time::timeout(limit, work).map(move |r| r.unwrap_or_else(|_| Err(on_timeout(limit))))
}

/// [`within`] when a limit is configured, the work as it is otherwise.
pub fn within_opt<T, E, F, O>(limit: Option<Duration>, work: F, on_timeout: O) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    O: FnOnce(Duration) -> E,
{
    match limit {
        Some(limit) => Either::Left(within(limit, work, on_timeout)),
        None => Either::Right(work),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_past_its_deadline_becomes_the_callers_error() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, String>(1)
        };
        let r = within(Duration::from_secs(2), slow, |d| format!("late after {d:?}")).await;
        assert_eq!(r, Err("late after 2s".to_string()));
        let quick = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, String>(2)
        };
        assert_eq!(within(Duration::from_secs(2), quick, |_| String::new()).await, Ok(2));
        let never_limited = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, String>(3)
        };
        assert_eq!(within_opt(None, never_limited, |_| String::new()).await, Ok(3));
    }
}
