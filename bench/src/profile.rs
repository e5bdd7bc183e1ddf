//! Profiles (`bench-run --profile DIR`): after the measured rounds, one more run of each
//! scenario against each target, unrecorded, with `perf record` sampling the proxy's process
//! (CPU clock, DWARF call graphs), folded by `inferno-collapse-perf` and drawn by
//! `inferno-flamegraph` as `DIR/<scenario>-<target>.svg` (with the folded stacks beside it).
//! perf runs on the load generator's CPU, so that it does not take the proxy's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::load::Load;

/// Samples per second: enough for a flamegraph of a few seconds, little enough that perf's own
/// work and the DWARF stacks stay small.
const FREQUENCY: &str = "499";

/// What is needed, checked before any run.
pub fn check_tools() -> Result<(), String> {
    for (tool, install) in [
        ("perf", "apt install linux-perf"),
        ("inferno-collapse-perf", "cargo install inferno --locked"),
        ("inferno-flamegraph", "cargo install inferno --locked"),
    ] {
        let found = Command::new(tool).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if found.is_err() {
            return Err(format!("--profile needs {tool}: {install}"));
        }
    }
    Ok(())
}

/// Runs `load` while perf samples `pid`, then writes `DIR/<name>.svg` and `DIR/<name>.folded`.
pub fn profile(
    load: &Load,
    pid: u32,
    (dir, name): (&Path, &str),
    cpus: Option<&str>,
    scratch: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let data = scratch.join(format!("{name}.perf.data"));
    let seconds = load.duration.as_secs().max(1).to_string();
    let mut perf = Command::new("taskset");
    perf.args(["-c", cpus.unwrap_or("0-1"), "perf", "record", "-F", FREQUENCY, "--call-graph", "dwarf,16384", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string(), "--", "sleep", &seconds])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut recording = perf.spawn().map_err(|e| format!("perf record: {e}"))?;
    // perf attaches in a moment; the load starts after it.
    std::thread::sleep(Duration::from_millis(300));
    let loaded = load.run(cpus, scratch);
    let recorded = recording.wait().map_err(|e| format!("perf record: {e}"))?;
    loaded?;
    if !recorded.success() {
        return Err(format!("perf record exited with {recorded}"));
    }
    let script = Command::new("perf")
        .args(["script", "-i"])
        .arg(&data)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("perf script: {e}"))?;
    let folded = pipe("inferno-collapse-perf", &[], &script.stdout)?;
    std::fs::write(dir.join(format!("{name}.folded")), &folded).map_err(|e| format!("{name}.folded: {e}"))?;
    let title = format!("{name}: CPU samples of the proxy at {FREQUENCY} Hz");
    let svg = pipe("inferno-flamegraph", &["--title", &title, "--minwidth", "0.2"], &folded)?;
    std::fs::write(dir.join(format!("{name}.svg")), svg).map_err(|e| format!("{name}.svg: {e}"))?;
    let _ = std::fs::remove_file(&data);
    Ok(())
}

/// `input` through `tool args`, its output.
fn pipe(tool: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{tool}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or_else(|| format!("{tool}: no stdin"))?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| format!("{tool}: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!("{tool} exited with {}", out.status));
    }
    Ok(out.stdout)
}
