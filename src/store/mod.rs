//! State that outlives the process — budget spend today — behind one small interface: counters
//! by key. [`Embedded`] keeps them in a local database file (redb, written in transactions);
//! [`Memory`] keeps them in the process (tests, or no file configured); [`Shared`] keeps them in
//! Redis, for replicas that share them.

mod embedded;
pub mod redis;
mod shared;

use std::collections::BTreeMap;
use std::sync::Mutex;

pub use self::embedded::Embedded;
pub use self::shared::Shared;

/// Counters by key; `add` returns the new total.
pub trait Store: Send + Sync {
    fn add(&self, key: &str, amount: f64) -> f64;
    fn get(&self, key: &str) -> f64;
    /// Every counter whose key starts with `prefix`.
    fn entries(&self, prefix: &str) -> Vec<(String, f64)>;
}

/// The counters of `map` whose keys start with `prefix` (every store keeps a sorted map).
pub(crate) fn with_prefix(map: &BTreeMap<String, f64>, prefix: &str) -> Vec<(String, f64)> {
    map.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.clone(), *v)).collect()
}

/// The embedded store at a path, opened on first use (so that a gateway with no budget never
/// creates the file); a file that cannot be opened is logged and counters stay in memory.
pub struct LazyFile {
    path: std::path::PathBuf,
    inner: std::sync::OnceLock<Box<dyn Store>>,
}

impl LazyFile {
    pub fn new(path: std::path::PathBuf) -> Self {
        LazyFile { path, inner: std::sync::OnceLock::new() }
    }

    fn store(&self) -> &dyn Store {
        &**self.inner.get_or_init(|| match Embedded::open(&self.path) {
            Ok(e) => {
                tracing::info!(path = %self.path.display(), "state file opened");
                Box::new(e)
            }
            Err(e) => {
                tracing::error!(error = %e, "the state file cannot be used: spend is kept in memory only");
                Box::new(Memory::default())
            }
        })
    }
}

impl Store for LazyFile {
    fn add(&self, key: &str, amount: f64) -> f64 {
        self.store().add(key, amount)
    }

    fn get(&self, key: &str) -> f64 {
        self.store().get(key)
    }

    fn entries(&self, prefix: &str) -> Vec<(String, f64)> {
        match self.inner.get() {
            Some(s) => s.entries(prefix),
            None if self.path.exists() => self.store().entries(prefix),
            None => vec![],
        }
    }
}

/// Counters in the process only.
#[derive(Default)]
pub struct Memory {
    counters: Mutex<BTreeMap<String, f64>>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, f64>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for Memory {
    fn add(&self, key: &str, amount: f64) -> f64 {
        let mut c = self.lock();
        let v = c.entry(key.to_string()).or_default();
        *v += amount;
        *v
    }

    fn get(&self, key: &str) -> f64 {
        self.lock().get(key).copied().unwrap_or_default()
    }

    fn entries(&self, prefix: &str) -> Vec<(String, f64)> {
        with_prefix(&self.lock(), prefix)
    }
}
