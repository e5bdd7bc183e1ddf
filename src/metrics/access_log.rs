//! The access log's lines and destinations. A line is one JSON object, written field by field
//! into a buffer (only the fields the route selects). Each destination (a file, or standard
//! output) has a buffer that requests append to and a thread of its own that writes it out every
//! 100 ms, or sooner when 64 KiB are waiting: no request waits on a disk, and no line costs a
//! wake-up or a system call. A buffer holds 4 MiB at most; a line that finds it full is dropped
//! and counted (`sluice_access_log_dropped_total`), as are the lines of a file that cannot be
//! opened.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

/// Written out at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Written out sooner once this much is waiting.
const EAGER: usize = 64 * 1024;
/// At most this much waits; lines beyond it are dropped.
const MAX_WAITING: usize = 4 * 1024 * 1024;

/// What a pipeline adds to its requests' lines (the AI pipeline: provider, models, tokens,
/// cost), read when the answer's body has gone.
pub trait Fields: Send + Sync {
    fn write(&self, line: &mut Line);
}

/// A response extension: the pipeline's part of the line.
#[derive(Clone)]
pub struct Note(pub Arc<dyn Fields>);

/// A response extension: a policy decision after admission refused the request (the model's
/// rate limit, a budget, model access); the line's `policy` field says so rather than the
/// admission's `allowed`.
#[derive(Clone, Copy, Debug)]
pub struct Refused(pub &'static str);

/// Fields written only when a log's `fields` names them, never by default: the prompt.
const OPT_IN: [&str; 1] = ["prompt"];

/// One line under construction: a JSON object with the selected fields that have a value.
pub struct Line {
    buf: Vec<u8>,
    /// The fields written (`None`: all).
    fields: Option<Arc<[&'static str]>>,
}

impl Line {
    pub fn new(fields: Option<Arc<[&'static str]>>) -> Self {
        Line { buf: Vec::with_capacity(384), fields }
    }

    /// Whether `name` is selected; when it is, its key is written and the value is to follow.
    fn key(&mut self, name: &str) -> bool {
        let selected = match &self.fields {
            Some(f) => f.contains(&name),
            None => !OPT_IN.contains(&name),
        };
        if !selected {
            return false;
        }
        self.buf.push(if self.buf.is_empty() { b'{' } else { b',' });
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        true
    }

    pub fn str(&mut self, name: &str, value: &str) {
        if self.key(name) {
            // serde_json's escaping, straight into the buffer (a string always serializes).
            let _ = serde_json::to_writer(&mut self.buf, value);
        }
    }

    pub fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    /// A number or a boolean, written as it displays.
    pub fn raw(&mut self, name: &str, value: impl std::fmt::Display) {
        if self.key(name) {
            let _ = write!(self.buf, "{value}");
        }
    }

    /// A float, to three decimals (finite values only).
    pub fn float(&mut self, name: &str, value: f64) {
        if value.is_finite() && self.key(name) {
            let _ = write!(self.buf, "{value:.3}");
        }
    }

    /// Now, as RFC 3339 in UTC to the millisecond (`2026-12-05T23:01:42.123Z`).
    pub fn now(&mut self, name: &str) {
        if !self.key(name) {
            return;
        }
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let (secs, millis) = (since.as_secs(), since.subsec_millis());
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
        let (h, min, sec) = (rest / 3600, rest % 3600 / 60, rest % 60);
        let _ = write!(self.buf, "\"{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}.{millis:03}Z\"");
    }

    /// The line, ended.
    pub fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push(b'{');
        }
        self.buf.extend_from_slice(b"}\n");
        // Keys are ours and values come from serde_json or `Display`: UTF-8 throughout.
        String::from_utf8(self.buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One destination's waiting lines.
#[derive(Default)]
struct Sink {
    waiting: Mutex<Vec<u8>>,
    eager: Condvar,
}

/// The destinations, by path (`None`: standard output), opened on first use.
#[derive(Default)]
pub struct Sinks {
    open: Mutex<HashMap<Option<Arc<str>>, Arc<Sink>>>,
    dropped: Counter,
}

impl Sinks {
    pub(super) fn dropped(&self) -> Counter {
        self.dropped.clone()
    }

    /// Queues `line` for `path`; drops it (counted) when the destination is too far behind.
    pub fn write(&self, path: Option<&Arc<str>>, line: &str) {
        let sink = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.get(&path.cloned()) {
                Some(s) => s.clone(),
                None => {
                    let sink = Arc::new(Sink::default());
                    spawn_writer(path.cloned(), sink.clone(), self.dropped.clone());
                    open.insert(path.cloned(), sink.clone());
                    sink
                }
            }
        };
        let mut waiting = sink.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() + line.len() > MAX_WAITING {
            self.dropped.inc();
            return;
        }
        waiting.extend_from_slice(line.as_bytes());
        if waiting.len() >= EAGER {
            sink.eager.notify_one();
        }
    }
}

/// Writes what waits for `path` every [`FLUSH_EVERY`], or sooner when [`EAGER`] is reached.
fn spawn_writer(path: Option<Arc<str>>, sink: Arc<Sink>, dropped: Counter) {
    let name = format!("access-log {}", path.as_deref().unwrap_or("stdout"));
    let run = move || {
        let mut out: Box<dyn std::io::Write> = match &path {
            None => Box::new(std::io::stdout()),
            Some(p) => match std::fs::OpenOptions::new().create(true).append(true).open(&**p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    tracing::error!(path = %p, error = %e, "the access log cannot be opened: its lines are dropped");
                    Box::new(Discard(dropped))
                }
            },
        };
        let mut batch = Vec::new();
        loop {
            {
                let waiting = sink.waiting.lock().unwrap_or_else(|p| p.into_inner());
                let (mut waiting, _) = sink
                    .eager
                    .wait_timeout_while(waiting, FLUSH_EVERY, |w| w.len() < EAGER)
                    .unwrap_or_else(|p| p.into_inner());
                std::mem::swap(&mut *waiting, &mut batch);
            }
            if !batch.is_empty() {
                if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
                    tracing::error!(error = %e, "the access log cannot be written");
                }
                batch.clear();
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name(name).spawn(run) {
        tracing::error!(error = %e, "no thread for the access log");
    }
}

/// Where the lines of a file that cannot be opened go: counted as dropped.
struct Discard(Counter);

impl std::io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|b| **b == b'\n').count();
        self.0.inc_by(lines as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_the_selected_fields_only() {
        let mut all = Line::new(None);
        all.str("path", "/a\"b\\c\n\u{1}é");
        all.raw("status", 200);
        all.opt_str("identity", None);
        all.float("duration_ms", 1.23456);
        let v: serde_json::Value = serde_json::from_str(&all.finish()).expect("JSON");
        assert_eq!(v, serde_json::json!({"path": "/a\"b\\c\n\u{1}é", "status": 200, "duration_ms": 1.235}));
        let mut some = Line::new(Some(Arc::from(["status"])));
        some.str("path", "/x");
        some.raw("status", 404);
        assert_eq!(some.finish(), "{\"status\":404}\n");
        assert_eq!(Line::new(Some(Arc::from([]))).finish(), "{}\n");
    }

    #[test]
    fn the_prompt_is_written_only_when_named() {
        let mut all = Line::new(None);
        all.str("prompt", "hello");
        all.raw("status", 200);
        assert_eq!(all.finish(), "{\"status\":200}\n", "never by default");
        let mut named = Line::new(Some(Arc::from(["prompt"])));
        named.str("prompt", "hello");
        assert_eq!(named.finish(), "{\"prompt\":\"hello\"}\n");
    }

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
