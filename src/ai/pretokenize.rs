//! The pre-tokenizers of `cl100k_base` and `o200k_base` for ASCII text, written out by hand.
//! `bpe-openai` cuts a text into pieces with a regular expression before encoding each piece;
//! on a prompt's new words that search costs more than the rest of the count. ASCII text (most
//! prompts) is cut here instead, with the same pieces: a test below compares both on random
//! text. Other text goes to the regular expression.
//!
//! The expressions, tried in order at each position, the first that matches giving the piece
//! (`L` a letter, `N` a digit, `P` neither and not white space, `s` white space):
//! - `cl100k_base`: a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`, any case);
//!   `[^\r\n L N]? L+`; `N{1,3}`; ` ? P+ [\r\n]*`; `s* [\r\n]+`; `s+` to the end of the text;
//!   `s+` followed by white space (the last one is left for the next piece); `s+`.
//! - `o200k_base`: an optional `[^\r\n L N]`, upper-case letters, at least one lower-case
//!   letter, then an optional contraction; or the same with at least one upper-case and any
//!   lower-case letters; `N{1,3}`; ` ? P+ [\r\n/]*`; then the white-space rules of `cl100k`.

/// Which expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    Cl100k,
    O200k,
}

/// The pieces of an ASCII `text`, as the encoding's own pre-tokenizer cuts them.
pub(crate) fn pieces(pattern: Pattern, text: &str) -> impl Iterator<Item = &str> {
    debug_assert!(text.is_ascii());
    let b = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= b.len() {
            return None;
        }
        let end = piece_end(pattern, b, at);
        let piece = &text[at..end];
        at = end;
        Some(piece)
    })
}

fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn is_newline(c: u8) -> bool {
    c == b'\r' || c == b'\n'
}

/// Neither white space, nor a letter, nor a digit.
fn is_other(c: u8) -> bool {
    !is_space(c) && !c.is_ascii_alphanumeric()
}

/// May stand before a word: not a line break, a letter or a digit.
fn is_lead(c: u8) -> bool {
    !is_newline(c) && !c.is_ascii_alphanumeric()
}

/// The end of the run from `i` of bytes that satisfy `f`.
fn run(b: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + b[i..].iter().take_while(|c| f(**c)).count()
}

/// The end of a contraction at `i` (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`, any case).
fn contraction(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'\'') {
        return None;
    }
    let lower = |k: usize| b.get(i + k).map(u8::to_ascii_lowercase);
    match lower(1)? {
        b's' | b't' | b'm' | b'd' => Some(i + 2),
        b'r' | b'v' if lower(2) == Some(b'e') => Some(i + 3),
        b'l' if lower(2) == Some(b'l') => Some(i + 3),
        _ => None,
    }
}

/// The end of the piece that starts at `i` (`i` < the length).
fn piece_end(pattern: Pattern, b: &[u8], i: usize) -> usize {
    let c = b[i];
    // Words: a letter here, or one lead byte before a letter.
    let word_from = if c.is_ascii_alphabetic() {
        Some(i)
    } else if is_lead(c) && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
        Some(i + 1)
    } else {
        None
    };
    match pattern {
        Pattern::Cl100k => {
            if let Some(end) = contraction(b, i) {
                return end;
            }
            if let Some(from) = word_from {
                return run(b, from, |c| c.is_ascii_alphabetic());
            }
        }
        Pattern::O200k => {
            if let Some(from) = word_from {
                let upper = run(b, from, |c| c.is_ascii_uppercase());
                let lower = run(b, upper, |c| c.is_ascii_lowercase());
                // Upper case then lower case, or else upper case alone; a contraction may follow.
                if lower > upper || upper > from {
                    return contraction(b, lower).unwrap_or(lower);
                }
            }
        }
    }
    if c.is_ascii_digit() {
        return run(b, i, |c| c.is_ascii_digit()).min(i + 3);
    }
    let other_from = if is_other(c) {
        Some(i)
    } else if c == b' ' && b.get(i + 1).copied().is_some_and(is_other) {
        Some(i + 1)
    } else {
        None
    };
    if let Some(from) = other_from {
        let end = run(b, from, is_other);
        return match pattern {
            Pattern::Cl100k => run(b, end, is_newline),
            Pattern::O200k => run(b, end, |c| is_newline(c) || c == b'/'),
        };
    }
    // White space (every other byte): up to its last line break, if it has one; all of it at
    // the end of the text; else all but its last byte (which goes with what follows); or a
    // single byte.
    let spaces = run(b, i, is_space);
    if let Some(last) = b[i..spaces].iter().rposition(|c| is_newline(*c)) {
        return i + last + 1;
    }
    if spaces == b.len() || spaces - i == 1 {
        return spaces;
    }
    spaces - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) {
        for (pattern, tokenizer) in
            [(Pattern::Cl100k, bpe_openai::cl100k_base()), (Pattern::O200k, bpe_openai::o200k_base())]
        {
            let ours: Vec<&str> = pieces(pattern, text).collect();
            let theirs: Vec<&str> = tokenizer.split(text).collect();
            assert_eq!(ours, theirs, "{pattern:?} on {text:?}");
        }
    }

    #[test]
    fn known_texts() {
        for text in [
            "",
            "Hello, world!",
            "Ticket 1099511627775-17. Please keep it short",
            "don't DON'T I'll You'RE they've 'S 's'",
            "helloWorld HTTPServer XMLHttpRequest iOS ABC",
            "https://example.com/a/b//\n\n/x",
            "  x   y\t\tz \n\n  \r\n w  ",
            "fn main() {\n    println!(\"{}\", 12345);\n}\n",
            "{\"a\":[1,22,333,4444],\"b\":null}",
            "\x00\x01\x7f ~`!@#$%^&*()_+-=[]{}|;:,.<>?",
            "   ",
            "\n",
            " \x0b\x0cA",
        ] {
            check(text);
        }
    }

    /// Random ASCII text, weighted towards the bytes the rules turn on.
    #[test]
    fn random_texts_cut_like_the_regular_expressions() {
        const BYTES: &[u8] = b"aAzZeEsStTrRvVlLmMdD09 1  \t\n\r\x0b\x0c''''///.,-(!_\x00\x7f";
        // Seeded: the same texts on every run.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rand::Rng::random::<u64>(&mut rng);
        for _ in 0..20_000 {
            let n = (next() % 24) as usize;
            let text: String = (0..n).map(|_| char::from(BYTES[(next() % BYTES.len() as u64) as usize])).collect();
            check(&text);
        }
        // Any ASCII byte, longer texts.
        for _ in 0..5_000 {
            let n = (next() % 64) as usize;
            let text: String = (0..n).map(|_| char::from((next() % 128) as u8)).collect();
            check(&text);
        }
        // Every ASCII byte, alone and around letters, digits and spaces.
        for c in 0u8..128 {
            let c = char::from(c);
            for text in [format!("{c}"), format!("a{c}b"), format!(" {c}1"), format!("{c}{c} {c}\n"), format!("A{c}'s")]
            {
                check(&text);
            }
        }
    }
}
