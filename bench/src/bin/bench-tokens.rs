//! Token counting side by side: `bpe-openai` (what Sluice uses, src/ai/tokens.rs) against
//! `tiktoken-rs` (the reference port of OpenAI's tiktoken), on the same texts in one run.
//! Checks that both produce the same token ids, then reports throughput and the ratio.
//!
//! `cargo run --release -p sluice-bench --bin bench-tokens [-- --quick]`

use std::hint::black_box;
use std::time::{Duration, Instant};

fn corpus() -> Vec<(&'static str, String)> {
    let prose = "The gateway reads the snapshot once per request and keeps it to the end. \
                 Providers answer in their own wire formats; Sluice translates each event as it arrives. ";
    let code = "fn main() { let x: Vec<u32> = (0..100).map(|i| i * 2).collect(); println!(\"{:?}\", x); }\n";
    let json = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the weather in Paris?"}],"temperature":0.2}"#;
    let mixed = "Zürich – 東京 – Москва: ünïcödé, emoji 🚀🔥, numbers 3.14159 2.71828 1e-9. ";
    vec![
        ("prose 1 KiB", prose.repeat(1024 / prose.len() + 1)),
        ("prose 64 KiB", prose.repeat(64 * 1024 / prose.len() + 1)),
        ("code 16 KiB", code.repeat(16 * 1024 / code.len() + 1)),
        ("json 16 KiB", json.repeat(16 * 1024 / json.len() + 1)),
        ("mixed unicode 16 KiB", mixed.repeat(16 * 1024 / mixed.len() + 1)),
    ]
}

/// Runs `f` repeatedly for about `budget`; returns bytes per second.
fn throughput(text: &str, budget: Duration, mut f: impl FnMut(&str) -> usize) -> f64 {
    let start = Instant::now();
    let mut bytes = 0usize;
    while start.elapsed() < budget {
        black_box(f(black_box(text)));
        bytes += text.len();
    }
    bytes as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), String> {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick { Duration::from_millis(100) } else { Duration::from_secs(1) };
    let rounds = if quick { 1 } else { 3 };
    let bpe = bpe_openai::o200k_base();
    let tik = tiktoken_rs::o200k_base().map_err(|e| format!("tiktoken o200k: {e}"))?;
    println!("| text | same ids | bpe-openai MB/s | tiktoken-rs MB/s | bpe-openai × tiktoken-rs |");
    println!("|---|---|---|---|---|");
    for (name, text) in corpus() {
        let a = bpe.encode(text.as_str());
        let b: Vec<u32> = tik.encode_ordinary(&text).into_iter().collect();
        let same = a == b;
        if !same {
            return Err(format!("{name}: the two encoders disagree ({} vs {} tokens)", a.len(), b.len()));
        }
        let mut ratios = Vec::new();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..rounds {
            let x = throughput(&text, budget, |t| bpe.count(t));
            let y = throughput(&text, budget, |t| tik.encode_ordinary(t).len());
            ours.push(x);
            theirs.push(y);
            ratios.push(x / y);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "| {name} ({} tokens) | {same} | {:.1} | {:.1} | {:.2}× |",
            a.len(),
            med(&mut ours) / 1e6,
            med(&mut theirs) / 1e6,
            med(&mut ratios)
        );
    }
    Ok(())
}
