//! The access log's sinks: one JSON object per line, appended to a file or written to standard
//! output by a thread of its own per destination, through a bounded queue. A line that finds
//! the queue full is dropped and counted (`sluice_access_log_dropped_total`): a slow disk never
//! holds a request up.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Lines waiting for one destination, at most.
const QUEUE: usize = 8192;

/// What a pipeline adds to its requests' lines (the AI pipeline: provider, models, tokens,
/// cost), read when the answer's body has gone.
pub trait Fields: Send + Sync {
    fn write(&self, line: &mut Map<String, Value>);
}

/// A response extension: the pipeline's part of the line.
#[derive(Clone)]
pub struct Note(pub Arc<dyn Fields>);

/// The destinations, by path (`None`: standard output), opened on first use.
#[derive(Default)]
pub struct Sinks {
    open: Mutex<HashMap<Option<Arc<str>>, SyncSender<String>>>,
    dropped: prometheus_client::metrics::counter::Counter,
}

impl Sinks {
    pub(super) fn dropped(&self) -> prometheus_client::metrics::counter::Counter {
        self.dropped.clone()
    }

    /// Queues `line` for `path`; drops it (counted) when the destination is behind.
    pub fn write(&self, path: Option<&Arc<str>>, line: String) {
        let tx = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.get(&path.cloned()) {
                Some(tx) => tx.clone(),
                None => {
                    let (tx, rx) = sync_channel(QUEUE);
                    spawn_writer(path.cloned(), rx);
                    open.insert(path.cloned(), tx.clone());
                    tx
                }
            }
        };
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.inc();
            }
        }
    }
}

/// Writes what comes for `path`, flushing whenever the queue is empty.
fn spawn_writer(path: Option<Arc<str>>, rx: Receiver<String>) {
    let name = format!("access-log {}", path.as_deref().unwrap_or("stdout"));
    let run = move || {
        let out: Box<dyn Write> = match &path {
            None => Box::new(std::io::stdout()),
            Some(p) => match std::fs::OpenOptions::new().create(true).append(true).open(&**p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    tracing::error!(path = %p, error = %e, "the access log cannot be opened: its lines are dropped");
                    return;
                }
            },
        };
        let mut out = std::io::BufWriter::new(out);
        while let Ok(line) = rx.recv() {
            let mut next = Some(line);
            while let Some(line) = next {
                if writeln!(out, "{line}").is_err() {
                    return;
                }
                next = rx.try_recv().ok();
            }
            if out.flush().is_err() {
                return;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name(name).spawn(run) {
        tracing::error!(error = %e, "no thread for the access log");
    }
}
