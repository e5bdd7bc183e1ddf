//! Watching configuration paths: file events, debounced, become reload signals.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time after the last file event before a reload, so an editor's several writes make one.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Starts watching; the receiver yields once per settled burst of changes. Keep the returned
/// watcher alive as long as reloads are wanted.
pub fn watch(paths: &[PathBuf]) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            let _ = raw_tx.send(());
        }
    })?;
    for p in paths {
        // Watch a file's folder too, so that editors that replace the file are seen.
        let target = if p.is_file() { p.parent().map(PathBuf::from).unwrap_or_else(|| p.clone()) } else { p.clone() };
        let target = if target.as_os_str().is_empty() { PathBuf::from(".") } else { target };
        watcher.watch(&target, RecursiveMode::Recursive)?;
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(DEBOUNCE, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    Ok((watcher, rx))
}
