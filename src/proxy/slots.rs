//! The connection cap of one listening port: a count of open connections checked against a cap
//! that a reload may change (a semaphore's permits are fixed when it is made).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How often a listener at its cap looks again even if no connection ended (the cap may have
/// been raised by a reload).
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct Slots {
    open: AtomicUsize,
    freed: Notify,
}

/// One open connection's place; freed when dropped.
pub(crate) struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_one();
    }
}

impl Slots {
    /// A place if fewer than `cap` connections are open.
    pub(crate) fn try_take(self: &Arc<Self>, cap: usize) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Waits for a place under the cap `cap()` reads (each time it looks).
    pub(crate) async fn take(self: &Arc<Self>, cap: impl Fn() -> usize) -> Slot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.try_take(cap()) {
                return slot;
            }
            let _ = tokio::time::timeout(RECHECK, freed).await;
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_place_frees_when_its_connection_ends_and_a_raised_cap_is_seen() {
        let slots = Arc::new(Slots::default());
        let a = slots.try_take(2).expect("first");
        let _b = slots.try_take(2).expect("second");
        assert!(slots.try_take(2).is_none(), "at the cap");
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(|| 2).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        let _c = waiting.await.expect("a place once one freed");
        assert_eq!(slots.open(), 2);
        // A reload raises the cap: a waiting listener sees it within a second.
        let cap = Arc::new(AtomicUsize::new(2));
        let waiting = tokio::spawn({
            let (slots, cap) = (slots.clone(), cap.clone());
            async move { slots.take(move || cap.load(Ordering::Relaxed)).await }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!waiting.is_finished());
        cap.store(3, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(waiting.is_finished(), "the raised cap was seen");
        assert_eq!(slots.open(), 3);
    }
}
