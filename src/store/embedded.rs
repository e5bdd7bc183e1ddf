//! The embedded store: counters in a redb database file. Reads come from memory (loaded at
//! open); each addition is written in its own transaction by a writer thread, so a request
//! never waits on the disk, and at most the additions in flight are lost in a crash.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::Store;

const COUNTERS: TableDefinition<&str, f64> = TableDefinition::new("counters");
/// Additions queued for the writer before new ones are written by the caller itself.
const QUEUE: usize = 4096;

pub struct Embedded {
    counters: Mutex<BTreeMap<String, f64>>,
    writes: Option<std::sync::mpsc::SyncSender<(String, f64)>>,
    writer: Option<std::thread::JoinHandle<()>>,
    db: Arc<Database>,
}

impl Drop for Embedded {
    /// Every queued addition is written before the file is closed.
    fn drop(&mut self) {
        self.writes.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn write(db: &Database, key: &str, total: f64) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let mut t = tx.open_table(COUNTERS)?;
        t.insert(key, total)?;
    }
    tx.commit()?;
    Ok(())
}

impl Embedded {
    /// Opens (or creates) the database at `path` and loads its counters.
    pub fn open(path: &Path) -> Result<Embedded, String> {
        let db = Database::create(path).map_err(|e| format!("cannot open the state file {}: {e}", path.display()))?;
        Embedded::on(Arc::new(db))
    }

    /// The counters of an open database (shared with what else the state file keeps).
    pub fn on(db: Arc<Database>) -> Result<Embedded, String> {
        let mut counters = BTreeMap::new();
        {
            let tx = db.begin_read().map_err(|e| e.to_string())?;
            match tx.open_table(COUNTERS) {
                Ok(t) => {
                    for row in t.iter().map_err(|e| e.to_string())? {
                        let (k, v) = row.map_err(|e| e.to_string())?;
                        counters.insert(k.value().to_string(), v.value());
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<(String, f64)>(QUEUE);
        let writer = db.clone();
        let writer_thread = std::thread::Builder::new()
            .name("sluice-store".into())
            .spawn(move || {
                while let Ok((key, total)) = rx.recv() {
                    if let Err(e) = write(&writer, &key, total) {
                        tracing::error!(error = %e, "writing the state file failed");
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Embedded { counters: Mutex::new(counters), writes: Some(tx), writer: Some(writer_thread), db })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, f64>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for Embedded {
    fn add(&self, key: &str, amount: f64) -> f64 {
        let total = {
            let mut c = self.lock();
            let v = c.entry(key.to_string()).or_default();
            *v += amount;
            *v
        };
        let queued = self.writes.as_ref().map(|w| w.try_send((key.to_string(), total)));
        if let Some(Err(std::sync::mpsc::TrySendError::Full((k, t)))) = queued {
            // The writer is behind: write this one here rather than lose it.
            if let Err(e) = write(&self.db, &k, t) {
                tracing::error!(error = %e, "writing the state file failed");
            }
        }
        total
    }

    fn get(&self, key: &str) -> f64 {
        self.lock().get(key).copied().unwrap_or_default()
    }

    fn entries(&self, prefix: &str) -> Vec<(String, f64)> {
        super::with_prefix(&self.lock(), prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        {
            let s = Embedded::open(&path).expect("open");
            assert_eq!(s.add("budget|a", 1.5), 1.5);
            assert_eq!(s.add("budget|a", 2.0), 3.5);
            s.add("budget|b", 0.25);
        }
        let again = Embedded::open(&path).expect("reopen");
        assert_eq!(again.get("budget|a"), 3.5);
        assert_eq!(again.entries("budget|").len(), 2);
    }
}
