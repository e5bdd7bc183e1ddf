//! Masking a streamed answer: text arrives in chunks cut anywhere, so a value could straddle
//! two of them. The masker holds back the last `holdback` characters (the longest match any
//! guard can make, less one) and any match still touching them, masks complete matches, and
//! lets the rest through at once. A masked value never reaches the client, whatever the
//! chunking; at most `holdback` plus one match's worth of text is ever held.

use std::sync::Arc;

use super::{Rejection, mask, matches};
use crate::ir::policy::GuardIr;

pub struct Masker {
    guards: Arc<[GuardIr]>,
    holdback: usize,
    pending: String,
    /// Guards that masked something, for metrics and logs.
    pub fired: Vec<String>,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Masker {
    /// A masker for the answer-side guards; `None` when no guard looks at answers.
    pub fn for_output(guards: &Arc<[GuardIr]>) -> Option<Masker> {
        let longest =
            guards.iter().filter(|g| g.scope.output).flat_map(|g| g.detectors.iter().map(|d| d.max_len)).max()?;
        Some(Masker {
            guards: guards.clone(),
            holdback: longest.saturating_sub(1),
            pending: String::new(),
            fired: vec![],
        })
    }

    /// Takes a chunk; returns the text that can go to the client now.
    pub fn push(&mut self, chunk: &str) -> Result<String, Rejection> {
        self.pending.push_str(chunk);
        let found = matches(&self.guards, |s| s.output, &self.pending);
        let mut boundary = floor_boundary(&self.pending, self.pending.len().saturating_sub(self.holdback));
        // A match still touching the held-back tail may grow: hold it whole.
        for (r, _) in &found {
            if r.start < boundary && r.end > boundary {
                boundary = r.start;
            }
        }
        let done: Vec<_> = found.into_iter().filter(|(r, _)| r.end <= boundary).collect();
        let head: String = self.pending.drain(..boundary).collect();
        self.out(&head, &done)
    }

    /// The answer ended: the rest, masked.
    pub fn finish(&mut self) -> Result<String, Rejection> {
        let rest = std::mem::take(&mut self.pending);
        let found = matches(&self.guards, |s| s.output, &rest);
        self.out(&rest, &found)
    }

    fn out(&mut self, text: &str, found: &[(std::ops::Range<usize>, usize)]) -> Result<String, Rejection> {
        let s = mask(&self.guards, text, found)?;
        for g in s.guards {
            if !self.fired.contains(&g) {
                self.fired.push(g);
            }
        }
        Ok(s.masked.unwrap_or_else(|| text.to_string()))
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For any split of an answer into chunks, no masked value reaches the client and what is
    /// held back stays bounded (a property test over seeded random splits).
    #[test]
    fn no_split_lets_a_value_through() {
        let guards: Arc<[GuardIr]> =
            super::super::tests::guards("[{name: pii, detect: [creditCard, email, secrets]}]").into();
        let answer = "Card 4111 1111 1111 1111 and 5500-0000-0000-0004, mail me at jo.doe@example.org, \
                      key sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234 — thanks! é😀 Also 4012888888881881.";
        let one_shot = super::super::scan(&guards, |s| s.output, answer).expect("scan").masked.expect("masked");
        let mut seed = 0x2545_f491_u64;
        for round in 0..500 {
            let mut m = Masker::for_output(&guards).expect("a masker");
            let mut out = String::new();
            let mut rest = answer;
            while !rest.is_empty() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut n = 1 + (seed % 12) as usize;
                while n < rest.len() && !rest.is_char_boundary(n) {
                    n += 1;
                }
                let (chunk, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                out.push_str(&m.push(chunk).expect("mask"));
                assert!(m.held() <= m.holdback + 266, "round {round}: held {}", m.held());
            }
            out.push_str(&m.finish().expect("mask"));
            for secret in
                ["4111 1111 1111 1111", "5500-0000-0000-0004", "jo.doe@example.org", "sk-proj-ABCD", "4012888888881881"]
            {
                assert!(!out.contains(secret), "round {round}: {secret} reached the client: {out}");
            }
            assert_eq!(out, one_shot, "round {round}: chunking changes nothing");
        }
    }

    #[test]
    fn text_without_matches_is_held_no_longer_than_the_holdback() {
        let guards: Arc<[GuardIr]> = super::super::tests::guards("[{name: ssn, detect: [ssn]}]").into();
        let mut m = Masker::for_output(&guards).expect("a masker");
        assert_eq!(m.push("Hello, world! ").expect("push"), "Hell", "only the last 10 characters wait");
        assert_eq!(m.finish().expect("finish"), "o, world! ");
    }
}
