//! A bounded memory of token counts by text. Clients resend the same texts on every turn (the
//! system prompt, tool definitions, the conversation so far), so counting a prompt for admission
//! mostly counts text already counted. Texts are known by a 64-bit SipHash of the encoding and
//! the text (a collision costs an estimate, nothing else); short texts are counted afresh.
//!
//! Two generations bound the memory: lookups read both, a hit in the old one moves to the new
//! one, and when the new one is full it becomes the old one (the old one is dropped). What is in
//! use keeps being found; what is not is forgotten after two generations.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// Entries per generation (two generations: at most twice this many, 16 bytes each plus the
/// map's overhead: under 1 MiB).
const GENERATION: usize = 16_384;
/// Texts shorter than this are counted without the memory (hashing and locking cost about as
/// much as counting them).
const MIN_LEN: usize = 64;

#[derive(Default)]
struct Generations {
    new: HashMap<u64, u32>,
    old: HashMap<u64, u32>,
}

pub(crate) struct Memo {
    inner: Mutex<Generations>,
    capacity: usize,
}

fn key(encoding: &str, text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    encoding.hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

impl Memo {
    pub(crate) fn new() -> Memo {
        Memo::with_capacity(GENERATION)
    }

    fn with_capacity(capacity: usize) -> Memo {
        Memo { inner: Mutex::new(Generations::default()), capacity }
    }

    /// The count of `text`, from memory or from `count` (then remembered).
    pub(crate) fn count(&self, encoding: &str, text: &str, count: impl FnOnce(&str) -> usize) -> usize {
        if text.len() < MIN_LEN {
            return count(text);
        }
        let k = key(encoding, text);
        if let Some(n) = self.get(k) {
            return n as usize;
        }
        let n = count(text);
        self.put(k, u32::try_from(n).unwrap_or(u32::MAX));
        n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, k: u64) -> Option<u32> {
        let mut g = self.lock();
        if let Some(n) = g.new.get(&k) {
            return Some(*n);
        }
        let n = g.old.remove(&k)?;
        self.insert(&mut g, k, n);
        Some(n)
    }

    fn put(&self, k: u64, n: u32) {
        let mut g = self.lock();
        self.insert(&mut g, k, n);
    }

    fn insert(&self, g: &mut Generations, k: u64, n: u32) {
        if g.new.len() >= self.capacity {
            g.old = std::mem::take(&mut g.new);
        }
        g.new.insert(k, n);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.new.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(i: usize) -> String {
        format!("{i:0>80}")
    }

    #[test]
    fn remembers_what_it_counted_and_counts_short_texts_afresh() {
        let m = Memo::with_capacity(4);
        let mut calls = 0;
        let mut counted = |t: &str| {
            calls += 1;
            t.len()
        };
        assert_eq!(m.count("o200k_base", &text(1), &mut counted), 80);
        assert_eq!(m.count("o200k_base", &text(1), &mut counted), 80);
        assert_eq!(m.count("cl100k_base", &text(1), &mut counted), 80, "another encoding is another count");
        assert_eq!(m.count("o200k_base", "short", &mut counted), 5);
        assert_eq!(m.count("o200k_base", "short", &mut counted), 5);
        assert_eq!(calls, 4);
    }

    #[test]
    fn memory_is_bounded_and_keeps_what_is_in_use() {
        let m = Memo::with_capacity(4);
        let hot = text(0);
        m.count("e", &hot, |t| t.len());
        for i in 1..1000 {
            m.count("e", &text(i), |t| t.len());
            // The hot text is asked for all along: it is never forgotten.
            m.count("e", &hot, |_| panic!("the hot text was forgotten at {i}"));
            assert!(m.len() <= 8, "{} entries", m.len());
        }
    }
}
