//! Finding manifest files on disk and reading them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::LoadError;
use super::LoadResult;
use super::parse::parse_file;

/// File name endings read when walking a directory. A file named explicitly is
/// read whatever its name.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every manifest under `paths`. Each path is a file, or a directory walked
/// recursively (files ending in `.yaml`, `.yml` or `.json`, in path order; names
/// starting with `.` are skipped, as Kubernetes keeps ConfigMap volume internals
/// there). A file reached twice is read once. All problems are collected,
/// including resources defined more than once.
pub fn load_paths(paths: &[PathBuf]) -> LoadResult {
    let mut result = LoadResult::default();
    let mut files = Vec::new();
    let mut visited_dirs = HashSet::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(err) => result.errors.push(LoadError::file(path.display().to_string(), format!("cannot read: {err}"))),
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                walk(path, &mut found, &mut visited_dirs, &mut result);
                found.sort();
                files.extend(found);
            }
            Ok(_) => files.push(path.clone()),
        }
    }
    let mut read = HashSet::new();
    for file in files {
        let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !read.insert(identity) {
            continue;
        }
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => result.extend(parse_file(&name, &text)),
            Err(err) => result.errors.push(LoadError::file(name, format!("cannot read: {err}"))),
        }
    }
    result.remove_duplicates();
    result
}

/// Collects manifest files under `dir` into `found`, following symbolic links but
/// entering each directory once.
fn walk(dir: &Path, found: &mut Vec<PathBuf>, visited: &mut HashSet<PathBuf>, result: &mut LoadResult) {
    let identity = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(identity) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            let name = dir.display().to_string();
            result.errors.push(LoadError::file(name, format!("cannot read directory: {err}")));
            return;
        }
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(err) => {
                let name = dir.display().to_string();
                result.errors.push(LoadError::file(name, format!("cannot read directory: {err}")));
                continue;
            }
        };
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, found, visited, result),
            Ok(_) if is_manifest(&path) => found.push(path),
            Ok(_) => {}
            Err(err) => result.errors.push(LoadError::file(path.display().to_string(), format!("cannot read: {err}"))),
        }
    }
}

pub(crate) fn is_manifest(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}
