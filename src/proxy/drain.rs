//! Open connections and the graceful stop: once [`Drain::start`] is called, listeners stop
//! accepting, open connections are asked to finish (HTTP/1.1: close after the request in flight;
//! HTTP/2: GOAWAY), and [`Drain::wait`] returns when the last connection has ended or the
//! deadline has passed. It also holds the per-listener connection cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

pub struct Drain {
    draining: watch::Sender<bool>,
    open: AtomicUsize,
    max_per_listener: AtomicUsize,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            draining: watch::channel(false).0,
            open: AtomicUsize::new(0),
            max_per_listener: AtomicUsize::new(super::listener::MAX_CONNECTIONS),
        }
    }
}

/// One open connection, counted until dropped.
pub struct Open<'a>(&'a Drain);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drain {
    /// Counts a connection open until the guard drops.
    pub fn open(&self) -> Open<'_> {
        self.open.fetch_add(1, Ordering::AcqRel);
        Open(self)
    }

    /// Most connections open at once on one listening port.
    pub fn max_connections(&self) -> usize {
        self.max_per_listener.load(Ordering::Relaxed)
    }

    pub fn set_max_connections(&self, n: usize) {
        self.max_per_listener.store(n.max(1), Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves when draining starts (at once if it has).
    pub async fn started(&self) {
        let mut rx = self.draining.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    pub fn start(&self) {
        self.draining.send_replace(true);
    }

    /// Connections still open.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Waits for every connection to end, at most `deadline`; the connections still open.
    pub async fn wait(&self, deadline: Duration) -> usize {
        let until = tokio::time::Instant::now() + deadline;
        while self.open_count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.open_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_open_connections_up_to_its_deadline() {
        let d = Drain::default();
        assert!(!d.is_draining());
        let a = d.open();
        let b = d.open();
        d.start();
        d.started().await;
        drop(a);
        assert_eq!(d.wait(Duration::from_secs(1)).await, 1, "one still open at the deadline");
        drop(b);
        assert_eq!(d.wait(Duration::from_secs(1)).await, 0);
    }
}
