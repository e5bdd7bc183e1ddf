//! A bounded memory of token counts, by text and by word. Clients resend the same texts on every
//! turn (the system prompt, tool definitions, the conversation so far), so counting a prompt for
//! admission mostly counts text already counted; and the one new text of a turn is mostly
//! sentences and words counted before (prompts are often a template around a new part). A text
//! is found whole, or else counted as the sum of its [`clauses`] (runs of words up to a
//! punctuation mark), each found whole or else counted as the sum of its [`words`], each found or
//! counted by the tokenizer. Whatever is counted is remembered. Counts are the tokenizer's own:
//! texts are cut only where its pre-tokenizer cuts too (see [`words`]).
//!
//! Texts and words are known by a 64-bit foldhash seeded at random per process (a collision
//! costs an estimate, nothing else, and cannot be prepared offline). foldhash, not SipHash: a
//! new prompt is hashed word by word, and SipHash's setup and finish cost more than a short word's
//! lookup. Two generations bound the memory:
//! lookups read both, a hit in the old one moves to the new one, and when the new one is full it
//! becomes the old one (the old one is dropped). What is in use keeps being found; what is not is
//! forgotten after two generations.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use foldhash::quality::RandomState;
use std::sync::Mutex;

/// Entries per generation (two generations: at most twice this many, 16 bytes each plus the
/// map's overhead: a few MiB).
const GENERATION: usize = 65_536;
/// Texts shorter than this are counted without the memory (hashing and locking cost about as
/// much as counting them).
const MIN_LEN: usize = 64;
/// Words of a new text looked up together.
const BATCH: usize = 32;

/// The maps' keys are already seeded hashes: they are their own hash.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other input still spreads.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Counts = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

#[derive(Default)]
struct Generations {
    new: Counts,
    old: Counts,
}

impl Generations {
    fn get(&mut self, k: u64, capacity: usize) -> Option<u32> {
        if let Some(n) = self.new.get(&k) {
            return Some(*n);
        }
        let n = self.old.remove(&k)?;
        self.insert(k, n, capacity);
        Some(n)
    }

    fn insert(&mut self, k: u64, n: u32, capacity: usize) {
        if self.new.len() >= capacity {
            // Sized at once: a map grown from empty rehashes all along the generation.
            let next = Counts::with_capacity_and_hasher(capacity, BuildHasherDefault::default());
            self.old = std::mem::replace(&mut self.new, next);
        }
        self.new.insert(k, n);
    }
}

/// A word of a new text, and its count as far as it is known.
struct Word<'t> {
    key: u64,
    text: &'t str,
    count: Known,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    No,
    Remembered(u32),
    /// Counted by the tokenizer now: to be remembered.
    Counted(u32),
}

pub(crate) struct Memo {
    inner: Mutex<Generations>,
    capacity: usize,
    keys: RandomState,
}

/// Where a text may be cut without changing its token count: before a single ASCII space that
/// follows a non-space character and precedes one. The pre-tokenizers of `cl100k_base` and
/// `o200k_base` always start a piece there: no piece runs across a space (letters, digits and
/// punctuation pieces hold none; a run of spaces is its own piece and this one stands alone),
/// and the space begins the next piece (a word or punctuation piece takes one leading space; a
/// lone space before a digit is a piece of its own). Their only look-around, `\s+(?!\S)`, never
/// reaches across such a cut: the text before it ends in a non-space.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let b = rest.as_bytes();
        // Search from 1: a word's own leading space is not a cut.
        let mut at = rest.len();
        let mut i = 1;
        while let Some(off) = b.get(i..).and_then(|s| s.iter().position(|c| *c == b' ')) {
            let s = i + off;
            if !space_before(rest, s) && !space_after(rest, s + 1) {
                at = s;
                break;
            }
            i = s + 1;
        }
        let (word, tail) = rest.split_at(at);
        rest = tail;
        Some(word)
    })
}

/// A text's clauses: its [`words`], run together up to a word that ends in a punctuation mark
/// (`.`, `,`, `;`, `:`, `?`, `!`). Cut where words are cut, so their counts add up too.
pub(crate) fn clauses(text: &str) -> impl Iterator<Item = &str> {
    let mut words = words(text);
    let mut start = 0;
    std::iter::from_fn(move || {
        let mut end = start;
        for w in words.by_ref() {
            end += w.len();
            if w.as_bytes().last().is_some_and(|c| matches!(c, b'.' | b',' | b';' | b':' | b'?' | b'!')) {
                break;
            }
        }
        if end == start {
            return None;
        }
        let clause = &text[start..end];
        start = end;
        Some(clause)
    })
}

/// Whether the character ending at byte `end` of `t` is white space (or there is none). ASCII
/// is decided on the byte; other characters are decoded.
fn space_before(t: &str, end: usize) -> bool {
    match t.as_bytes()[..end].last() {
        None => true,
        Some(c) if c.is_ascii() => is_space(*c),
        Some(_) => t[..end].chars().next_back().is_none_or(char::is_whitespace),
    }
}

/// Whether the character starting at byte `start` of `t` is white space (or there is none).
fn space_after(t: &str, start: usize) -> bool {
    match t.as_bytes().get(start) {
        None => true,
        Some(c) if c.is_ascii() => is_space(*c),
        Some(_) => t[start..].chars().next().is_none_or(char::is_whitespace),
    }
}

/// `char::is_whitespace` for an ASCII byte (it takes the vertical tab, which
/// `u8::is_ascii_whitespace` does not).
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

impl Memo {
    pub(crate) fn new() -> Memo {
        Memo::with_capacity(GENERATION)
    }

    fn with_capacity(capacity: usize) -> Memo {
        Memo { inner: Mutex::new(Generations::default()), capacity, keys: RandomState::default() }
    }

    fn key(&self, text: &str) -> u64 {
        self.keys.hash_one(text)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The count of `text`: remembered whole, or the sum of its words' (remembered or counted
    /// by `count`, then remembered). One memory serves one encoding.
    pub(crate) fn count(&self, text: &str, count: impl Fn(&str) -> usize) -> usize {
        if text.len() < MIN_LEN {
            return count(text);
        }
        let whole = self.key(text);
        if let Some(n) = self.lock().get(whole, self.capacity) {
            return n as usize;
        }
        let mut total = 0usize;
        for clause in clauses(text) {
            if clause.len() == text.len() {
                // One clause: the text itself, just looked up.
                total += self.count_by_words(text, &count);
                break;
            }
            let key = self.key(clause);
            let known = self.lock().get(key, self.capacity);
            total += match known {
                Some(n) => n as usize,
                None => {
                    let n = self.count_by_words(clause, &count);
                    self.lock().insert(key, u32::try_from(n).unwrap_or(u32::MAX), self.capacity);
                    n
                }
            };
        }
        let mut g = self.lock();
        g.insert(whole, u32::try_from(total).unwrap_or(u32::MAX), self.capacity);
        total
    }

    /// The sum of the counts of `text`'s words (remembered, or counted and remembered).
    fn count_by_words(&self, text: &str, count: &impl Fn(&str) -> usize) -> usize {
        // The words go in batches held on the stack (a list on the heap of a long text is a
        // large allocation, which makes the allocator sort its free lists).
        let mut batch: [Word<'_>; BATCH] = std::array::from_fn(|_| Word { key: 0, text: "", count: Known::No });
        let mut words = words(text);
        let mut total = 0usize;
        loop {
            let mut n = 0;
            for (slot, w) in batch.iter_mut().zip(words.by_ref()) {
                *slot = Word { key: self.key(w), text: w, count: Known::No };
                n += 1;
            }
            if n == 0 {
                break;
            }
            total += self.count_words(&mut batch[..n], count);
            if n < BATCH {
                break;
            }
        }
        total
    }

    /// The sum of the counts of `list` (every word's key is set): remembered ones looked up,
    /// the others counted and remembered. Every key is computed before any lookup, so the
    /// lookups do not wait on one another and their cache misses overlap.
    fn count_words(&self, list: &mut [Word<'_>], count: &impl Fn(&str) -> usize) -> usize {
        {
            let mut g = self.lock();
            for w in list.iter_mut() {
                if let Some(n) = g.new.get(&w.key) {
                    w.count = Known::Remembered(*n);
                }
            }
            for w in list.iter_mut().filter(|w| w.count == Known::No) {
                if let Some(n) = g.get(w.key, self.capacity) {
                    w.count = Known::Remembered(n);
                }
            }
        }
        // The tokenizer runs without the lock held.
        let mut total = 0usize;
        let mut counted = false;
        for w in list.iter_mut() {
            if w.count == Known::No {
                w.count = Known::Counted(u32::try_from(count(w.text)).unwrap_or(u32::MAX));
                counted = true;
            }
            if let Known::Remembered(n) | Known::Counted(n) = w.count {
                total += n as usize;
            }
        }
        if counted {
            let mut g = self.lock();
            for w in list.iter() {
                if let Known::Counted(n) = w.count {
                    g.insert(w.key, n, self.capacity);
                }
            }
        }
        total
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
        let m = Memo::with_capacity(16);
        let calls = std::cell::Cell::new(0);
        let counted = |t: &str| {
            calls.set(calls.get() + 1);
            t.len()
        };
        assert_eq!(m.count(&text(1), counted), 80);
        assert_eq!(m.count(&text(1), counted), 80);
        assert_eq!(m.count("short", counted), 5);
        assert_eq!(m.count("short", counted), 5);
        assert_eq!(calls.get(), 3);
    }

    /// A text of more words than a batch is counted whole, each word once.
    #[test]
    fn long_texts_are_counted_in_batches() {
        let m = Memo::with_capacity(4096);
        for n in [BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 5] {
            let text: String = (0..n).map(|i| format!(" w{n}x{i}")).collect();
            let calls = std::cell::Cell::new(0);
            let counted = |t: &str| {
                calls.set(calls.get() + 1);
                t.len()
            };
            assert_eq!(m.count(&text, counted), text.len(), "{n} words");
            assert_eq!(calls.get(), n, "{n} words: each counted once");
        }
    }

    /// A new text around sentences seen before is counted by its clauses: only the new clause's
    /// words are looked up, and only the new word is counted.
    #[test]
    fn a_new_text_is_counted_by_the_clauses_and_words_not_seen_before() {
        assert_eq!(clauses("Hi there, you. A b c? Yes").collect::<Vec<_>>(), ["Hi there,", " you.", " A b c?", " Yes"]);
        assert_eq!(clauses("no marks at all").collect::<Vec<_>>(), ["no marks at all"]);
        assert_eq!(clauses("").count(), 0);
        let m = Memo::with_capacity(1024);
        let seen = std::cell::RefCell::new(Vec::new());
        let counted = |t: &str| {
            seen.borrow_mut().push(t.to_string());
            t.len()
        };
        let a = "And what does a gateway add on top of that? Ticket 11-1. Please keep it short, we read on phones.";
        let b = "And what does a gateway add on top of that? Ticket 12-2. Please keep it short, we read on phones.";
        let c = "And what does a gateway add on top of that? Please keep it short, Ticket 12-2.";
        assert_eq!(m.count(a, counted), a.len());
        let before = m.len();
        seen.borrow_mut().clear();
        assert_eq!(m.count(b, counted), b.len());
        assert_eq!(*seen.borrow(), [" 12-2."], "only the new word is counted");
        // The whole text, its new clause and its new word: nothing else was new.
        assert_eq!(m.len(), before + 3);
        seen.borrow_mut().clear();
        assert_eq!(m.count(c, counted), c.len());
        assert_eq!(*seen.borrow(), Vec::<String>::new(), "every clause was seen before");
    }

    #[test]
    fn words_are_cut_only_before_a_lone_space_between_non_spaces() {
        fn cut(t: &str) -> Vec<&str> {
            words(t).collect()
        }
        assert_eq!(cut("a b"), ["a", " b"]);
        assert_eq!(cut(" a b "), [" a", " b "]);
        assert_eq!(cut("a  b c"), ["a  b", " c"]);
        assert_eq!(cut("x\n y z\t w"), ["x\n y", " z\t w"]);
        assert_eq!(cut("é ü 1"), ["é", " ü", " 1"]);
        assert_eq!(cut("a\u{a0} b"), ["a\u{a0} b"]);
        assert_eq!(cut(""), Vec::<&str>::new());
        assert_eq!(cut("   "), ["   "]);
        for t in ["a b", " a b ", "a  b c", "x\n y z\t w", "é ü 1"] {
            assert_eq!(cut(t).concat(), t);
        }
    }

    #[test]
    fn ascii_white_space_is_what_char_says_it_is() {
        for c in 0u8..128 {
            assert_eq!(is_space(c), char::from(c).is_whitespace(), "{c:#x}");
        }
    }

    #[test]
    fn memory_is_bounded_and_keeps_what_is_in_use() {
        let m = Memo::with_capacity(4);
        let hot = text(0);
        m.count(&hot, |t| t.len());
        for i in 1..1000 {
            m.count(&text(i), |t| t.len());
            // The hot text is asked for all along: it is never forgotten.
            m.count(&hot, |_| panic!("the hot text was forgotten at {i}"));
            assert!(m.len() <= 8, "{} entries", m.len());
        }
    }
}
