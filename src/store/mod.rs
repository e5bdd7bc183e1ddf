//! State that outlives the process behind two small interfaces: counters by key (budget
//! spend) and documents with an expiry (stored Responses, [`documents`]). [`Embedded`] keeps
//! counters in a local database file (redb, written in transactions); [`Memory`] keeps them in
//! the process (tests, or no file configured); [`Shared`] keeps them in Redis, for replicas that
//! share them. Counters and documents share one [`StateFile`].

pub mod documents;
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

/// The state file: one redb database, opened on first use (so that a gateway that keeps
/// nothing never creates it) and shared by everything kept in it.
pub struct StateFile {
    path: std::path::PathBuf,
    db: std::sync::OnceLock<Result<std::sync::Arc<redb::Database>, String>>,
}

impl StateFile {
    pub fn new(path: std::path::PathBuf) -> Self {
        StateFile { path, db: std::sync::OnceLock::new() }
    }

    /// The open database (opened now if it was not).
    pub fn db(&self) -> Result<std::sync::Arc<redb::Database>, String> {
        self.db
            .get_or_init(|| {
                let db = redb::Database::create(&self.path)
                    .map_err(|e| format!("cannot open the state file {}: {e}", self.path.display()))?;
                tracing::info!(path = %self.path.display(), "state file opened");
                Ok(std::sync::Arc::new(db))
            })
            .clone()
    }

    pub fn exists(&self) -> bool {
        self.db.get().is_some() || self.path.exists()
    }
}

/// The embedded counters in the state file, opened on first use; a file that cannot be opened
/// is logged and counters stay in memory.
pub struct LazyFile {
    file: std::sync::Arc<StateFile>,
    inner: std::sync::OnceLock<Box<dyn Store>>,
}

impl LazyFile {
    pub fn new(file: std::sync::Arc<StateFile>) -> Self {
        LazyFile { file, inner: std::sync::OnceLock::new() }
    }

    fn store(&self) -> &dyn Store {
        &**self.inner.get_or_init(|| match self.file.db().and_then(Embedded::on) {
            Ok(e) => Box::new(e),
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
            None if self.file.exists() => self.store().entries(prefix),
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
