//! Guards: detectors (built-in and custom patterns) that mask what they find or refuse the
//! request, on prompts and on answers. [`scan`] works on whole texts; [`stream::Masker`] on
//! answers as they stream, holding back only as much text as the longest possible match.
//! Decisions name the guard, never the text matched.

pub mod remote;
pub mod stream;

use std::ops::Range;

use crate::ir::policy::{Check, GuardActionIr, GuardIr, GuardScope};

/// A reject guard matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub guard: String,
    pub status: u16,
    pub message: String,
}

/// What guards did to one text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The text with every match masked, when something was.
    pub masked: Option<String>,
    /// The guards that masked something (for metrics and logs).
    pub guards: Vec<String>,
}

fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

fn iban(s: &str) -> bool {
    let compact: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut rem: u32 = 0;
    for c in rotated {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        for d in if v >= 10 { vec![v / 10, v % 10] } else { vec![v] } {
            rem = (rem * 10 + d) % 97;
        }
    }
    rem == 1
}

fn passes(check: Check, text: &str) -> bool {
    match check {
        Check::None => true,
        Check::Luhn => luhn(text),
        Check::Iban => iban(text),
    }
}

/// How many digits `text` may hold: its ASCII digits, and every byte of a non-ASCII character
/// (`\d` matches digits of every script).
fn digits_at_most(text: &str) -> usize {
    // Eight bytes at a time: a byte counts when its top bit is set (not ASCII) or when it is
    // from `0` to `9` (adding 0x50 to a byte under 0x80 sets its top bit from `0` on, adding
    // 0x46 from `:` on; neither sum carries into the next byte). Each byte lane adds up its
    // own flags; the lanes are summed once per 255 words, before one could overflow.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = ONES * 0x80;
    const PAIRS: u64 = 0x00ff_00ff_00ff_00ff;
    let flags = |w: u64| {
        let low = w & !TOPS;
        let from_zero = low + ONES * 0x50;
        let past_nine = low + ONES * 0x46;
        ((w | (from_zero & !past_nine)) & TOPS) >> 7
    };
    // Bytes to 16-bit lanes (at most 510 each), then their sum in the top 16 bits.
    let lanes = |acc: u64| {
        let pairs = (acc & PAIRS) + ((acc >> 8) & PAIRS);
        (pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48) as usize
    };
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
    let bytes = text.as_bytes();
    let (body, tail) = bytes.split_at(bytes.len() / 8 * 8);
    let mut n = 0;
    for block in body.chunks(8 * 255) {
        n += lanes(block.chunks_exact(8).map(|w| flags(word(w))).sum());
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    n + lanes(flags(u64::from_le_bytes(last)))
}

/// Every match of the guards that apply, with the guard's index.
pub(crate) fn matches(
    guards: &[GuardIr],
    applies: impl Fn(&GuardScope) -> bool,
    text: &str,
) -> Vec<(Range<usize>, usize)> {
    let mut out = Vec::new();
    let mut digits = None;
    for (gi, g) in guards.iter().enumerate().filter(|(_, g)| applies(&g.scope)) {
        for d in &g.detectors {
            if d.min_digits > 0 && *digits.get_or_insert_with(|| digits_at_most(text)) < d.min_digits {
                continue;
            }
            out.extend(d.regex.find_iter(text).filter(|m| passes(d.check, m.as_str())).map(|m| (m.range(), gi)));
        }
    }
    out.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    out
}

/// Masks `text`'s matches (those of reject guards refuse instead).
pub fn scan(guards: &[GuardIr], applies: impl Fn(&GuardScope) -> bool, text: &str) -> Result<Scan, Rejection> {
    let found = matches(guards, applies, text);
    mask(guards, text, &found)
}

/// Replaces the given matches (overlaps merged, the first one's replacement kept).
pub(crate) fn mask(guards: &[GuardIr], text: &str, found: &[(Range<usize>, usize)]) -> Result<Scan, Rejection> {
    if found.is_empty() {
        return Ok(Scan::default());
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut names = Vec::new();
    for (r, gi) in found {
        let g = &guards[*gi];
        let replacement = match &g.action {
            GuardActionIr::Reject { status, message } => {
                return Err(Rejection { guard: g.name.clone(), status: *status, message: message.clone() });
            }
            GuardActionIr::Mask { replacement } => replacement,
        };
        if r.start < at {
            // Inside what was already masked.
            at = at.max(r.end);
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(replacement);
        at = r.end;
        if !names.contains(&g.name) {
            names.push(g.name.clone());
        }
    }
    out.push_str(&text[at..]);
    Ok(Scan { masked: Some(out), guards: names })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn guards(yaml: &str) -> Vec<GuardIr> {
        let g: Vec<crate::api::Guard> = serde_saphyr::from_str(yaml).expect("guards");
        crate::ir::translate::policy_guards(&g).expect("compile")
    }

    #[test]
    fn digit_bound_counts_ascii_digits_and_every_byte_of_other_scripts() {
        assert_eq!(digits_at_most("a1b2 c"), 2);
        // `é` and the Arabic-Indic three are two bytes each: each byte may be part of a digit.
        assert_eq!(digits_at_most("a1b2 é\u{663}"), 6);
        assert_eq!(digits_at_most(""), 0);
        assert_eq!(digits_at_most(&"4111 1111 1111 1111 ".repeat(50)), 800);
        // Past 255 words, where the byte lanes are summed and start again.
        assert_eq!(digits_at_most(&"9".repeat(8 * 255 * 3 + 5)), 8 * 255 * 3 + 5);
        assert_eq!(digits_at_most(&"\u{663}".repeat(5000)), 10_000);
        let plain = |t: &str| t.bytes().filter(|b| b.is_ascii_digit() || !b.is_ascii()).count();
        for c in (0u8..128).map(char::from).chain(['é', '٣', '東', '🙂']) {
            for len in 0..20 {
                let t: String = std::iter::repeat_n(c, len).collect();
                let mixed = format!("x{t}9{t}");
                assert_eq!(digits_at_most(&t), plain(&t), "{t:?}");
                assert_eq!(digits_at_most(&mixed), plain(&mixed), "{mixed:?}");
            }
        }
    }

    #[test]
    fn built_in_detectors_find_what_they_should_and_only_that() {
        let g = guards("[{name: pii, detect: [creditCard, ssn, email, phone, iban, secrets]}]");
        let all = |_: &GuardScope| true;
        let cases = [
            ("card 4111 1111 1111 1111 ok", "card [REDACTED] ok"),
            ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
            ("ssn 078-05-1120.", "ssn [REDACTED]."),
            ("mail ann.lee+x@example.co.uk now", "mail [REDACTED] now"),
            ("call (415) 555-2671", "call [REDACTED]"),
            ("iban GB82 WEST 1234 5698 7654 32 end", "iban [REDACTED] end"),
            ("iban GB82 WEST 1234 5698 7654 33 end", "iban GB82 WEST 1234 5698 7654 33 end"),
            ("key sk-ant-api03-abcdefghijklmnopqrstuvwx", "key [REDACTED]"),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED]"),
            ("gh ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "gh [REDACTED]"),
            ("nothing to see", "nothing to see"),
            // Digits of another script are digits to `\d`: not skipped by the digit count.
            ("ssn \u{0660}\u{0667}\u{0668}-05-1120.", "ssn [REDACTED]."),
        ];
        for (text, want) in cases {
            let s = scan(&g, all, text).expect("mask");
            assert_eq!(s.masked.as_deref().unwrap_or(text), want, "{text}");
        }
    }

    #[test]
    fn reject_guards_refuse_and_scopes_apply() {
        let g = guards(
            "[{name: no-keys, detect: [secrets], action: reject, status: 403, message: no keys please, scope: [user]}]",
        );
        let user = |s: &GuardScope| s.user;
        let output = |s: &GuardScope| s.output;
        let r = scan(&g, user, "here sk-proj-abcdefghijklmnopqrstuvwxyz").expect_err("refused");
        assert_eq!((r.status, r.message.as_str(), r.guard.as_str()), (403, "no keys please", "no-keys"));
        assert!(scan(&g, output, "here sk-proj-abcdefghijklmnopqrstuvwxyz").is_ok(), "out of scope");
    }
}
