//! Embeds the provider catalog: every `providers/*.yaml` becomes an entry of
//! `$OUT_DIR/catalog_files.rs`, an array expression of `(file name, include_str!(path))`
//! pairs sorted by file name, read by `src/ai/catalog.rs`. Adding a provider is adding a file.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let providers = manifest_dir.join("providers");
    // A directory: cargo reruns this script when anything in it changes (files added too).
    println!("cargo:rerun-if-changed=providers");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    if providers.is_dir() {
        for entry in fs::read_dir(&providers)? {
            let path = entry?.path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml");
            if is_yaml && path.is_file() {
                let name = path.file_name().and_then(|n| n.to_str()).ok_or("non-UTF-8 file name in providers/")?;
                let full = path.to_str().ok_or("non-UTF-8 path to providers/")?;
                files.push((name.to_string(), full.to_string()));
            }
        }
    }
    files.sort();

    let mut out = String::from("&[\n");
    for (name, full) in &files {
        writeln!(out, "    ({name:?}, include_str!({full:?})),")?;
    }
    out.push_str("]\n");
    fs::write(PathBuf::from(env::var("OUT_DIR")?).join("catalog_files.rs"), out)?;
    Ok(())
}
