//! P3, streaming: what a proxy adds to the time to first token and to the delay of every chunk
//! of a streamed chat completion, and whether it ever holds a chunk back.
//!
//! The bench upstream stamps every content chunk with the wall-clock time it produced it
//! (` wK@@T`, see `upstream::chat`); the client (`bench-stream`, pinned to the load CPU) stamps
//! its arrival. A chunk's delay is arrival minus production, so the upstream's timer jitter does
//! not enter it; what a proxy adds is its delay minus the delay of the same stream fetched
//! directly from the upstream in the same round. TTFT is from the request's send to the arrival of
//! the first content chunk (the upstream sends it at once).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::load::percentile;
use crate::procs::{Proc, Spawn, cpu_seconds};
use crate::report::{Spread, fmt_us};
use crate::scenarios::CHAT_REQUEST;
use crate::targets::Target;

/// The targets of P3.
pub const P3_TARGETS: &[&str] = &["direct", "nginx", "sluice-ai-openai", "sluice-ai-anthropic", "litellm"];

/// One streaming load shape.
#[derive(Clone, Debug)]
pub struct StreamScenario {
    pub id: &'static str,
    pub title: String,
    /// Content chunks per stream (the request's `max_tokens`).
    pub chunks: usize,
    /// The upstream's interval between chunks (`bench-upstream --chunk-interval-us`).
    pub interval: Duration,
    /// Streams per target and round, `concurrency` at a time (staggered by interval/concurrency).
    pub streams: usize,
    pub concurrency: usize,
}

/// P3: 100-chunk streams. Quick mode: fewer streams, a shorter interval.
pub fn p3(quick: bool) -> StreamScenario {
    let (interval, streams, concurrency) =
        if quick { (Duration::from_millis(2), 4, 2) } else { (Duration::from_millis(10), 40, 4) };
    StreamScenario {
        id: "p3-stream-100",
        title: format!(
            "streamed chat completion, 100 chunks {} ms apart, {streams} streams per run, {concurrency} at a time",
            interval.as_millis()
        ),
        chunks: 100,
        interval,
        streams,
        concurrency,
    }
}

/// The streamed request: [`CHAT_REQUEST`] with `stream`, usage asked for, and `max_tokens` set to
/// the number of chunks (the upstream sends that many).
pub fn stream_request(chunks: usize) -> String {
    CHAT_REQUEST.replace(
        r#""max_tokens":256"#,
        &format!(r#""max_tokens":{chunks},"stream":true,"stream_options":{{"include_usage":true}}"#),
    )
}

/// A content chunk's marker: its index and the upstream's production time (ns since the epoch).
pub fn marker(event: &[u8]) -> Option<(usize, u128)> {
    let at = event.windows(2).position(|w| w == b"@@")?;
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let after = &event[at + 2..];
    let ts = std::str::from_utf8(&after[..digits(after)]).ok()?.parse().ok()?;
    let before = &event[..at];
    let w = before.iter().rposition(|&c| c == b'w')?;
    let idx = &before[w + 1..];
    (idx.len() == digits(idx) && !idx.is_empty()).then_some(())?;
    Some((std::str::from_utf8(idx).ok()?.parse().ok()?, ts))
}

/// What one stream showed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamSample {
    pub ttft_us: f64,
    /// (index, produced ns, arrived ns) of every content chunk, in arrival order.
    pub chunks: Vec<(usize, u128, u128)>,
    /// The stream ended properly (`[DONE]` or `message_stop`).
    pub complete: bool,
}

impl StreamSample {
    /// Chunks that arrived only after the upstream had produced the next one.
    pub fn held_back(&self) -> usize {
        let mut by_index = self.chunks.clone();
        by_index.sort_by_key(|c| c.0);
        by_index.windows(2).filter(|w| w[0].2 > w[1].1).count()
    }

    /// Chunks that arrived before the upstream produced the last one.
    pub fn before_last(&self) -> usize {
        let Some(last) = self.chunks.iter().max_by_key(|c| c.0) else { return 0 };
        self.chunks.iter().filter(|c| c.0 != last.0 && c.2 < last.1).count()
    }

    /// One line of `bench-stream`'s output.
    pub fn line(&self) -> String {
        let mut s = format!(
            "stream\t{:.1}\t{}\t{}\t{}\t{}",
            self.ttft_us,
            self.complete as u8,
            self.chunks.len(),
            self.held_back(),
            self.before_last()
        );
        for c in &self.chunks {
            let _ = write!(s, "\t{:.1}", c.2.saturating_sub(c.1) as f64 / 1000.0);
        }
        s
    }
}

/// One `bench-stream` run, read back from its output.
#[derive(Clone, Debug, Default)]
pub struct StreamRun {
    pub ttft_us: Vec<f64>,
    pub chunk_us: Vec<f64>,
    pub streams: usize,
    pub complete: usize,
    pub chunks: usize,
    pub held_back: usize,
    /// The fewest chunks any stream had received when the upstream produced its last one.
    pub min_before_last: usize,
    /// Proxy CPU µs per content chunk (all of the run's CPU time, requests included).
    pub proxy_cpu_us_per_chunk: Option<f64>,
    pub errors: Vec<String>,
}

impl StreamRun {
    pub fn parse(out: &str) -> StreamRun {
        let mut r = StreamRun { min_before_last: usize::MAX, ..StreamRun::default() };
        for line in out.lines() {
            let mut f = line.split('\t');
            match f.next() {
                Some("stream") => {
                    let v: Vec<&str> = f.collect();
                    let num = |i: usize| v.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
                    r.streams += 1;
                    r.ttft_us.push(num(0));
                    r.complete += (num(1) == 1.0) as usize;
                    r.chunks += num(2) as usize;
                    r.held_back += num(3) as usize;
                    r.min_before_last = r.min_before_last.min(num(4) as usize);
                    r.chunk_us.extend(v.iter().skip(5).filter_map(|x| x.parse::<f64>().ok()));
                }
                Some("error") => r.errors.push(f.collect::<Vec<_>>().join(" ")),
                _ => {}
            }
        }
        if r.streams == 0 {
            r.min_before_last = 0;
        }
        r.ttft_us.retain(|v| v.is_finite());
        r.ttft_us.sort_by(f64::total_cmp);
        r.chunk_us.sort_by(f64::total_cmp);
        r
    }

    pub fn ttft(&self, q: f64) -> f64 {
        percentile(&self.ttft_us, q)
    }

    pub fn chunk(&self, q: f64) -> f64 {
        percentile(&self.chunk_us, q)
    }
}

/// Every P3 run, by (target index, round).
#[derive(Default)]
pub struct StreamResults {
    pub scenario: Option<StreamScenario>,
    pub targets: Vec<String>,
    pub runs: Vec<(usize, usize, StreamRun)>,
    pub failures: Vec<(usize, String)>,
}

/// Runs the P3 client against every P3 target, rounds interleaved and rotated.
#[allow(clippy::too_many_arguments)]
pub fn run(
    targets: &mut [Target],
    sc: &StreamScenario,
    rounds: usize,
    client: &Path,
    load_cpus: Option<&str>,
    scratch: &Path,
    pause: Duration,
) -> StreamResults {
    let idx: Vec<usize> =
        (0..targets.len()).filter(|&i| P3_TARGETS.contains(&crate::targets::kind(&targets[i].name))).collect();
    let mut res = StreamResults {
        scenario: Some(sc.clone()),
        targets: targets.iter().map(|t| t.name.clone()).collect(),
        ..StreamResults::default()
    };
    if idx.is_empty() {
        return res;
    }
    let out = scratch.join("bench-stream.tsv");
    // Warm-up, not recorded: connection pools, and what a gateway sets up on its first AI request.
    let warm = StreamScenario { chunks: 10, streams: sc.concurrency, ..sc.clone() };
    for &ti in &idx {
        if let Err(e) = run_one(&mut targets[ti], &warm, client, load_cpus, &out) {
            eprintln!("warm-up of {} ({}) failed: {}", targets[ti].name, sc.id, e.lines().next().unwrap_or(""));
        }
    }
    for round in 0..rounds {
        for k in 0..idx.len() {
            let ti = idx[(k + round) % idx.len()];
            let t = &mut targets[ti];
            let tag = format!("[round {}/{}] {:<14} {:<19}", round + 1, rounds, sc.id, t.name);
            match run_one(t, sc, client, load_cpus, &out) {
                Ok(r) => {
                    eprintln!(
                        "{tag} {}/{} streams  TTFT p50 {:>7.1} µs p99 {:>7.1} µs  chunk delay p50 {:>6.1} µs p99 {:>7.1} µs  held back {}",
                        r.complete,
                        r.streams,
                        r.ttft(0.5),
                        r.ttft(0.99),
                        r.chunk(0.5),
                        r.chunk(0.99),
                        r.held_back
                    );
                    res.runs.push((ti, round, r));
                }
                Err(e) => {
                    eprintln!("{tag} skipped: {}", e.lines().next().unwrap_or(""));
                    res.failures.push((ti, e));
                }
            }
            std::thread::sleep(pause);
        }
    }
    res
}

fn run_one(
    t: &mut Target,
    sc: &StreamScenario,
    client: &Path,
    load_cpus: Option<&str>,
    out: &Path,
) -> Result<StreamRun, String> {
    if let Some(p) = &mut t.proc
        && !p.alive()
    {
        return Err(format!("{} is not running", t.name));
    }
    if !client.is_file() {
        return Err(format!("{} not found: build it with `cargo build --release -p sluice-bench`", client.display()));
    }
    let _ = std::fs::remove_file(out);
    let argv = vec![
        client.display().to_string(),
        "--url".into(),
        format!("http://127.0.0.1:{}/v1/chat/completions", t.h1_port),
        "--streams".into(),
        sc.streams.to_string(),
        "--concurrency".into(),
        sc.concurrency.to_string(),
        "--chunks".into(),
        sc.chunks.to_string(),
        "--interval-us".into(),
        sc.interval.as_micros().to_string(),
    ];
    let cpu0 = t.pid().map(cpu_seconds);
    let mut p = Proc::spawn(Spawn { name: "bench-stream", argv, cpus: load_cpus, env: Vec::new(), log: Some(out) })?;
    let expected = sc.interval * (sc.chunks as u32) * (sc.streams.div_ceil(sc.concurrency.max(1)) as u32);
    if !p.wait_until(expected + Duration::from_secs(60)) {
        return Err("bench-stream did not finish in time".into());
    }
    let cpu1 = t.pid().map(cpu_seconds);
    let text = std::fs::read_to_string(out).map_err(|e| format!("reading bench-stream output: {e}"))?;
    let mut r = StreamRun::parse(&text);
    if r.streams == 0 {
        let why = r.errors.first().cloned().unwrap_or_else(|| text.lines().last().unwrap_or("").to_string());
        return Err(format!("no stream completed: {why}"));
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1)
        && r.chunks > 0
    {
        r.proxy_cpu_us_per_chunk = Some((b - a) * 1e6 / r.chunks as f64);
    }
    Ok(r)
}

/// A P3 target of issue 5.
struct Check {
    what: &'static str,
    bound: f64,
    get: fn(&StreamResults, usize, usize) -> Option<Spread>,
}

impl StreamResults {
    fn runs_of(&self, t: usize) -> impl Iterator<Item = &(usize, usize, StreamRun)> {
        self.runs.iter().filter(move |r| r.0 == t)
    }

    fn spread(&self, t: usize, f: impl Fn(&StreamRun) -> f64) -> Option<Spread> {
        Spread::of(self.runs_of(t).map(|r| f(&r.2)).filter(|v| v.is_finite()).collect())
    }

    /// Per-round differences to the direct run of the same round.
    fn added(&self, t: usize, base: usize, f: impl Fn(&StreamRun) -> f64) -> Option<Spread> {
        let v = self
            .runs_of(t)
            .filter_map(|(_, round, r)| {
                let (_, _, b) = self.runs_of(base).find(|x| x.1 == *round)?;
                Some(f(r) - f(b))
            })
            .filter(|v| v.is_finite())
            .collect();
        Spread::of(v)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t == name)
    }
}

fn show(s: Option<Spread>, f: fn(f64) -> String) -> String {
    s.map_or("—".into(), |s| s.show(f))
}

fn fmt_signed_us(v: f64) -> String {
    if v < 0.0 { format!("−{}", fmt_us(-v)) } else { format!("+{}", fmt_us(v)) }
}

/// The P3 section of `RESULTS.md`.
pub fn render(out: &mut String, r: &StreamResults) {
    let Some(sc) = &r.scenario else { return };
    let direct = r.index("direct");
    let _ = writeln!(out, "## P3: streaming (`{}`: {})\n", sc.id, sc.title);
    let _ = writeln!(
        out,
        "Client: `bench-stream` (Rust, hyper, HTTP/1.1 keep-alive, one connection per concurrent stream) pinned to the load CPU. \
         *Chunk delay*: arrival at the client minus the time the upstream produced the chunk (stamped in its text), so timer jitter \
         does not count. *Added*: the target's figure minus direct's in the same round (median over rounds, then min–max). \
         *Held back*: chunks that arrived only after the upstream had produced the next one. *Before last*: the fewest chunks any \
         stream had received when the upstream produced its last chunk (all {} but the last is the ideal). CPU per chunk: the \
         proxy's CPU time during the run over the content chunks delivered (requests and stream set-up included).\n",
        sc.chunks
    );
    let _ = writeln!(
        out,
        "| Target | streams complete | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 | chunk delay p50 | chunk delay p99 | added per-chunk p50 | added per-chunk p99 | held back | before last | proxy CPU µs/chunk |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (t, name) in r.targets.iter().enumerate() {
        if !P3_TARGETS.contains(&crate::targets::kind(name)) {
            continue;
        }
        if r.runs_of(t).next().is_none() {
            let why = r.failures.iter().find(|f| f.0 == t).map_or("not run", |f| f.1.as_str());
            let _ = writeln!(out, "| {name} | {} |{}", why.lines().next().unwrap_or(""), " — |".repeat(11));
            continue;
        }
        let added = |f: fn(&StreamRun) -> f64| match direct.filter(|&d| d != t) {
            Some(d) => show(r.added(t, d, f), fmt_signed_us),
            None => "—".into(),
        };
        let (streams, complete, chunks, held) = r
            .runs_of(t)
            .fold((0, 0, 0, 0), |a, (_, _, x)| (a.0 + x.streams, a.1 + x.complete, a.2 + x.chunks, a.3 + x.held_back));
        let before_last = r.runs_of(t).map(|x| x.2.min_before_last).min().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {name} | {complete}/{streams} | {} | {} | {} | {} | {} | {} | {} | {} | {held} of {chunks} | {before_last} of {} | {} |",
            show(r.spread(t, |x| x.ttft(0.5)), fmt_us),
            show(r.spread(t, |x| x.ttft(0.99)), fmt_us),
            added(|x| x.ttft(0.5)),
            added(|x| x.ttft(0.99)),
            show(r.spread(t, |x| x.chunk(0.5)), fmt_us),
            show(r.spread(t, |x| x.chunk(0.99)), fmt_us),
            added(|x| x.chunk(0.5)),
            added(|x| x.chunk(0.99)),
            sc.chunks.saturating_sub(1),
            show(r.spread(t, |x| x.proxy_cpu_us_per_chunk.unwrap_or(f64::NAN)), |v| format!("{v:.1}")),
        );
    }
    out.push('\n');
    render_checks(out, r);
}

fn render_checks(out: &mut String, r: &StreamResults) {
    let Some(d) = r.index("direct") else { return };
    let checks = [
        Check { what: "added TTFT p99", bound: 500.0, get: |r, t, d| r.added(t, d, |x| x.ttft(0.99)) },
        Check { what: "added per-chunk delay p99", bound: 50.0, get: |r, t, d| r.added(t, d, |x| x.chunk(0.99)) },
    ];
    let _ = writeln!(out, "### P3 targets of issue 5 (vs direct)\n");
    let _ = writeln!(out, "| Target | Sluice route | Bound | Measured (median, range over rounds) | Met |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for who in ["sluice-ai-openai", "sluice-ai-anthropic"] {
        let Some(t) = r.index(who) else { continue };
        if r.runs_of(t).next().is_none() {
            continue;
        }
        for c in &checks {
            let (m, met) = match (c.get)(r, t, d) {
                Some(s) => (s.show(fmt_signed_us), if s.median <= c.bound { "yes" } else { "**no**" }),
                None => ("—".into(), "—"),
            };
            let _ = writeln!(out, "| {} | `{who}` | ≤ {} | {m} | {met} |", c.what, fmt_us(c.bound));
        }
        let held: usize = r.runs_of(t).map(|x| x.2.held_back).sum();
        let _ = writeln!(
            out,
            "| no chunk held back | `{who}` | 0 | {held} | {} |",
            if held == 0 { "yes" } else { "**no**" }
        );
    }
    out.push('\n');
}

/// One CSV line per P3 run.
pub fn csv(r: &StreamResults) -> String {
    let mut out = String::from(
        "scenario,target,round,streams,complete,chunks,held_back,min_before_last,ttft_p50_us,ttft_p99_us,chunk_p50_us,chunk_p99_us,proxy_cpu_us_per_chunk\n",
    );
    let Some(sc) = &r.scenario else { return out };
    for (t, round, x) in &r.runs {
        let _ = writeln!(
            out,
            "{},{},{round},{},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{}",
            sc.id,
            r.targets[*t],
            x.streams,
            x.complete,
            x.chunks,
            x.held_back,
            x.min_before_last,
            x.ttft(0.5),
            x.ttft(0.99),
            x.chunk(0.5),
            x.chunk(0.99),
            x.proxy_cpu_us_per_chunk.map_or(String::new(), |v| format!("{v:.2}"))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers() {
        let ev = br#"data: {"choices":[{"delta":{"content":" w12@@1795685196850913189"}}]}"#;
        assert_eq!(marker(ev), Some((12, 1795685196850913189)));
        assert_eq!(marker(b"data: [DONE]"), None);
    }

    #[test]
    fn stream_request_asks_for_the_chunks() {
        let r = stream_request(100);
        assert!(crate::upstream::chat::wants_stream(r.as_bytes()));
        assert_eq!(crate::upstream::chat::max_tokens(r.as_bytes()), Some(100));
        assert!(r.contains(r#""include_usage":true"#));
    }

    #[test]
    fn held_back_and_before_last() {
        // Produced every 10 units; chunk 1 arrives after chunk 2 was produced.
        let s = StreamSample {
            ttft_us: 1.0,
            chunks: vec![(0, 0, 1), (1, 10, 25), (2, 20, 21), (3, 30, 31)],
            complete: true,
        };
        assert_eq!(s.held_back(), 1);
        assert_eq!(s.before_last(), 3);
        let r = StreamRun::parse(&s.line());
        assert_eq!((r.streams, r.complete, r.chunks, r.held_back, r.min_before_last), (1, 1, 4, 1, 3));
        assert_eq!(r.chunk_us.len(), 4);
    }
}
