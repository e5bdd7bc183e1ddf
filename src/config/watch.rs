//! Watching configuration paths: file events, debounced, become reload signals.
//!
//! Only events that can change the configuration count: a named file itself, or under a named
//! folder a manifest file (`.yaml`, `.yml`, `.json`), a renamed or removed entry without an
//! extension (a folder holding manifests) and `..data`, the link a Kubernetes ConfigMap volume
//! swaps on every update. A log or any other file written beside the configuration reloads
//! nothing. A named file's folder is watched, not the file, so that editors that replace the
//! file are seen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time after the last file event before a reload, so an editor's several writes make one.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// The link a ConfigMap volume swaps to publish a new version of all its files at once.
const CONFIGMAP_DATA: &str = "..data";

/// What one configuration path watches for.
#[derive(Debug, Clone)]
enum Target {
    /// A file named on the command line: events on it, in its folder.
    File { dir: PathBuf, name: std::ffi::OsString },
    /// A folder of manifests, walked recursively.
    Dir(PathBuf),
}

impl Target {
    fn of(p: &Path) -> Target {
        let dot = |d: &Path| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() };
        match (p.is_file(), p.parent(), p.file_name()) {
            (true, Some(dir), Some(name)) => Target::File { dir: dot(dir), name: name.to_owned() },
            _ => Target::Dir(dot(p)),
        }
    }

    fn watched(&self) -> &Path {
        match self {
            Target::File { dir, .. } | Target::Dir(dir) => dir,
        }
    }
}

/// Whether an event on `path` can change the configuration `targets` name.
fn relevant(targets: &[Target], kind: &EventKind, path: &Path) -> bool {
    if matches!(kind, EventKind::Access(_)) {
        return false;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let renamed_or_removed =
        matches!(kind, EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_)));
    targets.iter().any(|t| match t {
        Target::File { dir, name: file } => {
            path.parent().is_some_and(|p| same_dir(p, dir))
                && (path.file_name() == Some(file) || name == CONFIGMAP_DATA)
        }
        Target::Dir(dir) => {
            let under = path.starts_with(dir) || path.canonicalize().is_ok_and(|c| c.starts_with(dir));
            let manifest = super::load::is_manifest(path) && !name.starts_with('.');
            under && (manifest || name == CONFIGMAP_DATA || (renamed_or_removed && path.extension().is_none()))
        }
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b)
}

/// Starts watching; the receiver yields once per settled burst of changes. Keep the returned
/// watcher alive as long as reloads are wanted.
pub fn watch(paths: &[PathBuf]) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let targets: Vec<Target> = paths.iter().map(|p| Target::of(p)).collect();
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let seen = targets.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && ev.paths.iter().any(|p| relevant(&seen, &ev.kind, p))
        {
            let _ = raw_tx.send(());
        }
    })?;
    for t in &targets {
        let mode = if matches!(t, Target::Dir(_)) { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        watcher.watch(t.watched(), mode)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};

    const WRITE: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));

    #[test]
    fn only_configuration_files_count() {
        let file = Target::File { dir: "/etc/sluice".into(), name: "gateway.yaml".into() };
        let dir = Target::Dir("/etc/routes".into());
        let targets = [file, dir];
        let yes = |kind: EventKind, p: &str| relevant(&targets, &kind, Path::new(p));
        assert!(yes(WRITE, "/etc/sluice/gateway.yaml"));
        assert!(yes(EventKind::Create(CreateKind::File), "/etc/sluice/gateway.yaml"));
        assert!(!yes(WRITE, "/etc/sluice/gateway.log"), "a log beside the file");
        assert!(!yes(WRITE, "/etc/sluice/other.yaml"), "a file that was not named");
        assert!(!yes(EventKind::Access(notify::event::AccessKind::Any), "/etc/sluice/gateway.yaml"));
        assert!(yes(EventKind::Create(CreateKind::Any), "/etc/sluice/..data"), "a ConfigMap update");
        assert!(yes(WRITE, "/etc/routes/a.yaml"));
        assert!(yes(WRITE, "/etc/routes/team/b.YML"));
        assert!(yes(WRITE, "/etc/routes/c.json"));
        assert!(!yes(WRITE, "/etc/routes/access.log"));
        assert!(!yes(WRITE, "/etc/routes/.a.yaml.swp"));
        assert!(yes(EventKind::Remove(RemoveKind::Folder), "/etc/routes/team"), "a folder of manifests went");
        assert!(yes(EventKind::Modify(ModifyKind::Name(RenameMode::From)), "/etc/routes/team"));
        assert!(!yes(EventKind::Create(CreateKind::File), "/etc/routes/4913"), "an editor's probe file");
        assert!(!yes(WRITE, "/var/other/a.yaml"), "outside every target");
    }
}
