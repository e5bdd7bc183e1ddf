//! Documents kept for a while: whole JSON texts by key (stored Responses), each with an expiry.
//! [`MemoryDocs`] keeps them in the process, [`EmbeddedDocs`] in the state file (a restart loses
//! nothing), [`RedisDocs`] in Redis for replicas that share them. The memory and embedded
//! stores also bound their total size, dropping the oldest documents first; Redis bounds its
//! memory by its own `maxmemory` policy.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{ReadableTable, TableDefinition};

use super::StateFile;
use super::redis::{Conn, Target};

pub type DocFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Documents by key; a document past its expiry is as good as gone.
pub trait Documents: Send + Sync {
    fn put<'a>(&'a self, key: &'a str, doc: String) -> DocFuture<'a, ()>;
    fn get<'a>(&'a self, key: &'a str) -> DocFuture<'a, Option<String>>;
    /// Whether there was a document to delete.
    fn delete<'a>(&'a self, key: &'a str) -> DocFuture<'a, bool>;
}

/// How long documents are kept, and how many bytes of them at most (memory and embedded).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub ttl: Duration,
    pub max_bytes: u64,
}

impl Default for Bounds {
    /// OpenAI keeps stored responses 30 days; 1 GiB of them is plenty for one machine.
    fn default() -> Self {
        Bounds { ttl: Duration::from_secs(30 * 86_400), max_bytes: 1 << 30 }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The bookkeeping both bounded stores share: expiry and insertion order of every document.
#[derive(Default)]
struct Ledger {
    /// key → (order, expires at in ms, size)
    docs: HashMap<String, (u64, u64, u64)>,
    /// order → key: the oldest first.
    order: BTreeMap<u64, String>,
    bytes: u64,
    next: u64,
}

impl Ledger {
    fn insert(&mut self, key: &str, order: u64, expires: u64, size: u64) {
        self.remove(key);
        self.docs.insert(key.to_string(), (order, expires, size));
        self.order.insert(order, key.to_string());
        self.bytes += size;
        self.next = self.next.max(order + 1);
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.docs.remove(key) {
            Some((order, _, size)) => {
                if self.order.get(&order).is_some_and(|k| k == key) {
                    self.order.remove(&order);
                }
                self.bytes = self.bytes.saturating_sub(size);
                true
            }
            None => false,
        }
    }

    /// The keys to drop so that the store holds at most `max` bytes and nothing expired, the
    /// oldest first.
    fn over(&mut self, max: u64, now: u64) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((&order, key)) = self.order.first_key_value() {
            let key = key.clone();
            // A state file written by hand may name one order twice: the stale entry goes.
            let Some(&(own, expires, _)) = self.docs.get(&key).filter(|d| d.0 == order) else {
                self.order.remove(&order);
                continue;
            };
            if self.bytes <= max && expires > now {
                break;
            }
            debug_assert_eq!(own, order);
            self.remove(&key);
            out.push(key);
        }
        out
    }

    fn live(&self, key: &str, now: u64) -> bool {
        self.docs.get(key).is_some_and(|(_, expires, _)| *expires > now)
    }
}

/// Documents in the process.
pub struct MemoryDocs {
    bounds: Bounds,
    state: Mutex<(Ledger, HashMap<String, String>)>,
}

impl MemoryDocs {
    pub fn new(bounds: Bounds) -> Self {
        MemoryDocs { bounds, state: Mutex::default() }
    }
}

impl Default for MemoryDocs {
    fn default() -> Self {
        MemoryDocs::new(Bounds::default())
    }
}

impl Documents for MemoryDocs {
    fn put<'a>(&'a self, key: &'a str, doc: String) -> DocFuture<'a, ()> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (ledger, docs) = &mut *s;
        let now = now_ms();
        let order = ledger.next;
        ledger.insert(key, order, now + self.bounds.ttl.as_millis() as u64, doc.len() as u64);
        docs.insert(key.to_string(), doc);
        for k in ledger.over(self.bounds.max_bytes, now) {
            docs.remove(&k);
        }
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, key: &'a str) -> DocFuture<'a, Option<String>> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let doc = if s.0.live(key, now_ms()) { s.1.get(key).cloned() } else { None };
        Box::pin(async { Ok(doc) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> DocFuture<'a, bool> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let live = s.0.live(key, now_ms());
        s.0.remove(key);
        s.1.remove(key);
        Box::pin(async move { Ok(live) })
    }
}

/// key → the document.
const DOCS: TableDefinition<&str, &str> = TableDefinition::new("documents");
/// key → (order, expires at in ms, size): the ledger, read at first use without the documents.
const LEDGER: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("documents_ledger");

/// Documents in the state file. The ledger (keys, expiries, sizes) is read once, at first use;
/// every change is one write transaction, run off the async threads.
pub struct EmbeddedDocs {
    file: Arc<StateFile>,
    bounds: Bounds,
    ledger: Arc<Mutex<Option<Ledger>>>,
}

impl EmbeddedDocs {
    pub fn new(file: Arc<StateFile>, bounds: Bounds) -> Self {
        EmbeddedDocs { file, bounds, ledger: Arc::default() }
    }

    /// Runs `f` with the database and the ledger (loaded if it was not), off the async threads.
    fn with<'a, T: Send + 'static>(
        &'a self,
        f: impl FnOnce(&redb::Database, &mut Ledger) -> Result<T, String> + Send + 'static,
    ) -> DocFuture<'a, T> {
        let (file, ledger) = (self.file.clone(), self.ledger.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let db = file.db()?;
                let mut guard = ledger.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    *guard = Some(load(&db)?);
                }
                let l = guard.as_mut().ok_or("the document ledger is not loaded")?;
                f(&db, l)
            })
            .await
            .map_err(|e| format!("the state file's task failed: {e}"))?
        })
    }
}

fn load(db: &redb::Database) -> Result<Ledger, String> {
    use redb::ReadableDatabase as _;
    let mut ledger = Ledger::default();
    let tx = db.begin_read().map_err(|e| e.to_string())?;
    match tx.open_table(LEDGER) {
        Ok(t) => {
            for row in t.iter().map_err(|e| e.to_string())? {
                let (k, v) = row.map_err(|e| e.to_string())?;
                let (order, expires, size) = v.value();
                ledger.insert(k.value(), order, expires, size);
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(ledger)
}

type DocsTable<'t> = redb::Table<'t, &'static str, &'static str>;
type LedgerTable<'t> = redb::Table<'t, &'static str, (u64, u64, u64)>;

/// One write transaction on both tables, on disk when it returns.
fn write(
    db: &redb::Database,
    f: impl FnOnce(&mut DocsTable<'_>, &mut LedgerTable<'_>) -> Result<(), redb::StorageError>,
) -> Result<(), String> {
    let tx = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut docs = tx.open_table(DOCS).map_err(|e| e.to_string())?;
        let mut ledger = tx.open_table(LEDGER).map_err(|e| e.to_string())?;
        f(&mut docs, &mut ledger).map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
}

impl Documents for EmbeddedDocs {
    fn put<'a>(&'a self, key: &'a str, doc: String) -> DocFuture<'a, ()> {
        let (key, bounds) = (key.to_string(), self.bounds);
        self.with(move |db, ledger| {
            let now = now_ms();
            let (order, expires) = (ledger.next, now + bounds.ttl.as_millis() as u64);
            ledger.insert(&key, order, expires, doc.len() as u64);
            let dropped = ledger.over(bounds.max_bytes, now);
            write(db, |docs, l| {
                docs.insert(key.as_str(), doc.as_str())?;
                l.insert(key.as_str(), (order, expires, doc.len() as u64))?;
                for k in &dropped {
                    docs.remove(k.as_str())?;
                    l.remove(k.as_str())?;
                }
                Ok(())
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> DocFuture<'a, Option<String>> {
        let key = key.to_string();
        self.with(move |db, ledger| {
            use redb::ReadableDatabase as _;
            if !ledger.live(&key, now_ms()) {
                return Ok(None);
            }
            let tx = db.begin_read().map_err(|e| e.to_string())?;
            let t = tx.open_table(DOCS).map_err(|e| e.to_string())?;
            Ok(t.get(key.as_str()).map_err(|e| e.to_string())?.map(|v| v.value().to_string()))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> DocFuture<'a, bool> {
        let key = key.to_string();
        self.with(move |db, ledger| {
            let live = ledger.live(&key, now_ms());
            if ledger.remove(&key) {
                write(db, |docs, l| {
                    docs.remove(key.as_str())?;
                    l.remove(key.as_str())?;
                    Ok(())
                })?;
            }
            Ok(live)
        })
    }
}

/// Documents in Redis under `prefix`, each with Redis's own expiry (`SET … PX`).
pub struct RedisDocs {
    target: Target,
    conn: tokio::sync::Mutex<Option<Conn>>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
}

impl RedisDocs {
    pub fn new(target: Target, prefix: &str, ttl: Duration) -> Self {
        RedisDocs { target, conn: Default::default(), prefix: prefix.to_string(), ttl, timeout: Duration::from_secs(2) }
    }

    /// Runs `cmd` on a connection (made now if there is none), within the timeout.
    fn run<'a, T: redis::FromRedisValue + Send + 'a>(&'a self, cmd: redis::Cmd) -> DocFuture<'a, T> {
        Box::pin(async move {
            let ask = async {
                let mut conn = {
                    let mut slot = self.conn.lock().await;
                    if slot.is_none() {
                        *slot = Some(self.target.connect().await.map_err(|e| format!("connecting to Redis: {e}"))?);
                    }
                    slot.clone().ok_or("no Redis connection")?
                };
                cmd.query_async::<T>(&mut conn).await.map_err(|e| format!("Redis: {e}"))
            };
            match tokio::time::timeout(self.timeout, ask).await {
                Ok(r) => r,
                Err(_) => Err(format!("Redis took longer than {:?}", self.timeout)),
            }
        })
    }
}

impl Documents for RedisDocs {
    fn put<'a>(&'a self, key: &'a str, doc: String) -> DocFuture<'a, ()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{key}", self.prefix)).arg(doc).arg("PX").arg(self.ttl.as_millis() as u64);
        self.run::<()>(cmd)
    }

    fn get<'a>(&'a self, key: &'a str) -> DocFuture<'a, Option<String>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{key}", self.prefix));
        self.run::<Option<String>>(cmd)
    }

    fn delete<'a>(&'a self, key: &'a str) -> DocFuture<'a, bool> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}{key}", self.prefix));
        let run = self.run::<u64>(cmd);
        Box::pin(async move { run.await.map(|n| n > 0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_documents_are_bounded_oldest_first() {
        let docs = MemoryDocs::new(Bounds { ttl: Duration::from_secs(60), max_bytes: 10 });
        docs.put("a", "12345".into()).await.expect("put");
        docs.put("b", "12345".into()).await.expect("put");
        assert_eq!(docs.get("a").await.expect("get").as_deref(), Some("12345"));
        docs.put("c", "1".into()).await.expect("put");
        assert_eq!(docs.get("a").await.expect("get"), None, "the oldest went first");
        assert!(docs.get("b").await.expect("get").is_some());
        assert!(docs.delete("b").await.expect("delete"));
        assert!(!docs.delete("b").await.expect("delete"), "gone already");
    }

    #[test]
    fn a_ledger_naming_one_order_twice_neither_panics_nor_loses_count() {
        let mut l = Ledger::default();
        l.insert("a", 5, u64::MAX, 10);
        l.insert("b", 5, u64::MAX, 10);
        assert!(l.remove("a"), "a is known");
        assert_eq!(l.bytes, 10);
        assert_eq!(l.over(0, 0), vec!["b".to_string()], "b keeps its place");
        l.insert("c", 7, u64::MAX, 1);
        l.insert("d", 7, u64::MAX, 1);
        assert!(l.remove("d"));
        assert_eq!(l.over(0, 0), Vec::<String>::new(), "c lost its place: kept, and no panic");
        assert_eq!(l.bytes, 1);
    }

    #[tokio::test]
    async fn expired_documents_are_gone() {
        let docs = MemoryDocs::new(Bounds { ttl: Duration::ZERO, max_bytes: 1 << 20 });
        docs.put("a", "x".into()).await.expect("put");
        assert_eq!(docs.get("a").await.expect("get"), None);
    }

    #[tokio::test]
    async fn embedded_documents_survive_reopening_and_stay_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        let bounds = Bounds { ttl: Duration::from_secs(60), max_bytes: 12 };
        {
            let file = Arc::new(StateFile::new(path.clone()));
            let docs = EmbeddedDocs::new(file.clone(), bounds);
            docs.put("a", "aaaaa".into()).await.expect("put");
            docs.put("b", "bbbbb".into()).await.expect("put");
            // Counters share the file.
            let counters = super::super::Embedded::on(file.db().expect("db")).expect("counters");
            use super::super::Store as _;
            counters.add("budget|x", 2.0);
        }
        let file = Arc::new(StateFile::new(path));
        let docs = EmbeddedDocs::new(file.clone(), bounds);
        assert_eq!(docs.get("a").await.expect("get").as_deref(), Some("aaaaa"), "kept across a reopening");
        docs.put("c", "ccccc".into()).await.expect("put");
        assert_eq!(docs.get("a").await.expect("get"), None, "over 12 bytes: the oldest is dropped");
        assert_eq!(docs.get("c").await.expect("get").as_deref(), Some("ccccc"));
        assert!(docs.delete("b").await.expect("delete"));
        assert_eq!(docs.get("b").await.expect("get"), None);
        let counters = super::super::Embedded::on(file.db().expect("db")).expect("counters");
        use super::super::Store as _;
        assert_eq!(counters.get("budget|x"), 2.0);
    }
}
