//! Child processes: spawning them pinned to a CPU, reading their CPU time from `/proc`, and
//! making sure they (and whatever they fork) are gone when the harness is.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Whether a program is on `PATH` (or is an existing path).
pub fn have(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// The first line of a command's combined output, for version strings.
pub fn first_line(prog: &str, args: &[&str]) -> String {
    match Command::new(prog).args(args).output() {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
        }
        Err(e) => format!("unavailable ({e})"),
    }
}

/// Kernel clock ticks per second, the unit of `utime`/`stime` in `/proc/<pid>/stat`.
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| first_line("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0))
}

/// `(ppid, utime + stime)` of one process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let cpu = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((ppid, cpu))
}

/// CPU seconds used by this process's reaped children (`cutime + cstime` of `/proc/self/stat`):
/// how the load generator's CPU time is read once it has exited.
pub fn reaped_children_cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = text.rfind(')').map_or("", |i| &text[i + 2..]);
    let f: Vec<u64> = rest.split_whitespace().skip(13).take(2).filter_map(|v| v.parse().ok()).collect();
    f.iter().sum::<u64>() as f64 / clock_ticks()
}

/// CPU seconds the whole machine has been busy (all CPUs; `/proc/stat` minus idle and iowait).
pub fn machine_busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = text.lines().next().unwrap_or("");
    let v: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = v.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum();
    busy as f64 / clock_ticks()
}

/// A process and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                && let Some((ppid, _)) = stat(pid)
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// CPU seconds (user + system, all threads) used so far by a process and its live descendants.
pub fn cpu_seconds(root: u32) -> f64 {
    let ticks: u64 = tree(root).into_iter().filter_map(|p| stat(p).map(|s| s.1)).sum();
    ticks as f64 / clock_ticks()
}

/// Thread names of a process (`/proc/<pid>/task/*/comm`).
pub fn thread_names(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    dir.flatten().filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok()).map(|s| s.trim().into()).collect()
}

/// Pids of the children alive now, for the signal handler.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// On SIGINT, SIGTERM or SIGHUP: kill every child's process tree, then exit with 130.
/// (`setpriv --pdeathsig` covers only direct children; nginx's worker is a grandchild.)
pub fn kill_children_on_signal() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let kinds = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()];
            let mut sigs: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
            let waits = sigs.iter_mut().map(|s| Box::pin(s.recv()));
            futures_select(waits.collect()).await;
        });
        let pids: Vec<u32> = live().iter().flat_map(|&p| tree(p)).collect();
        self::signal("KILL", &pids);
        eprintln!("bench-run: interrupted; children killed");
        std::process::exit(130);
    });
}

/// Resolves when the first of the futures does.
async fn futures_select<F: std::future::Future + Unpin>(mut futs: Vec<F>) {
    std::future::poll_fn(|cx| {
        for f in &mut futs {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How to start a child.
pub struct Spawn<'a> {
    pub name: &'a str,
    pub argv: Vec<String>,
    /// `taskset -c` CPU list, or `None` to leave the child unpinned.
    pub cpus: Option<&'a str>,
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go (appended); `None` pipes stdout to the caller and drops stderr.
    pub log: Option<&'a Path>,
}

/// A running child. Dropping it stops it and everything it forked.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn spawn(s: Spawn<'_>) -> Result<Proc, String> {
        let mut argv: Vec<String> = Vec::new();
        // If the harness dies without cleaning up, the kernel kills the direct child.
        if have("setpriv") {
            argv.extend(["setpriv", "--pdeathsig", "KILL"].map(String::from));
        }
        if let Some(cpus) = s.cpus
            && have("taskset")
        {
            argv.extend(["taskset".to_string(), "-c".to_string(), cpus.to_string()]);
        }
        argv.extend(s.argv);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).envs(s.env).stdin(Stdio::null());
        match s.log {
            Some(path) => {
                let f = File::options().create(true).append(true).open(path).map_err(|e| format!("{e}"))?;
                let f2 = f.try_clone().map_err(|e| format!("{e}"))?;
                cmd.stdout(f).stderr(f2);
            }
            None => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", s.name))?;
        live().push(child.id());
        Ok(Proc { name: s.name.to_string(), child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit by itself, killing it after `limit`. Returns whether it exited in time.
    pub fn wait_until(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        false
    }

    /// SIGTERM to the tree, then SIGKILL to what is left after a second.
    pub fn stop(&mut self) {
        let pid = self.pid();
        live().retain(|&p| p != pid);
        if !self.alive() {
            return;
        }
        let pids = tree(self.pid());
        signal("TERM", &pids);
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && self.alive() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<u32> = pids.into_iter().filter(|p| Path::new(&format!("/proc/{p}")).exists()).collect();
        signal("KILL", &left);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the upstream on the proxy CPU and returns it with its port. `interval`: its LLM
/// streams' interval between chunks (P3).
pub fn start_upstream(bin: &Path, cpus: Option<&str>, interval: Duration) -> Result<(Proc, u16), String> {
    let argv = vec![
        bin.display().to_string(),
        "--port".into(),
        "0".into(),
        "--threads".into(),
        "1".into(),
        "--chunk-interval-us".into(),
        interval.as_micros().to_string(),
    ];
    let mut p = Proc::spawn(Spawn { name: "bench-upstream", argv, cpus, env: Vec::new(), log: None })?;
    let out = p.child.stdout.take().ok_or("no stdout from bench-upstream")?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line).map_err(|e| e.to_string())?;
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    port.map(|port| (p, port)).ok_or_else(|| format!("bench-upstream did not start: {line:?}"))
}
