//! Token counting, for usage a provider did not report and for fast prompt estimates
//! (admission control). Encoders are built once per process, on first use, never per request.
//!
//! Behind [`TokenCounter`] sits `bpe-openai`: `bench-tokens` (bench/) checks it produces the same
//! token ids as `tiktoken-rs` on prose, code, JSON and mixed Unicode, and measured it at 1.2–2.4×
//! tiktoken-rs's throughput (bench/RESULTS.md). A test below pins tiktoken's ids for one string.
//! Prompt texts are counted once and remembered ([`super::token_memo`]): clients resend them.

use std::sync::LazyLock;

use super::canonical::{ChatRequest, Part};
use super::pretokenize::{self, Pattern};
use super::token_memo::Memo;

/// Counts of the texts clients send again and again (system prompts, tools, history), one
/// memory per encoding.
static O200K_MEMO: LazyLock<Memo> = LazyLock::new(Memo::new);
static CL100K_MEMO: LazyLock<Memo> = LazyLock::new(Memo::new);

pub trait TokenCounter: Send + Sync {
    /// Tokens of a text that may be sent again (prompts): remembered ([`super::token_memo`]).
    fn count(&self, text: &str) -> usize;
    /// Tokens of a text seen once (an answer): counted, not remembered.
    fn count_once(&self, text: &str) -> usize;
    /// The encoding's name (`o200k_base`, `cl100k_base`).
    fn encoding(&self) -> &'static str;
}

struct Bpe {
    tokenizer: fn() -> &'static bpe_openai::Tokenizer,
    pattern: Pattern,
    name: &'static str,
    memo: &'static LazyLock<Memo>,
}

impl TokenCounter for Bpe {
    fn count(&self, text: &str) -> usize {
        self.memo.count(text, |t| by_pieces((self.tokenizer)(), self.pattern, t))
    }

    fn count_once(&self, text: &str) -> usize {
        by_pieces((self.tokenizer)(), self.pattern, text)
    }

    fn encoding(&self) -> &'static str {
        self.name
    }
}

/// `Tokenizer::count` (its pre-tokenizer's pieces, each counted by the byte-pair encoding;
/// neither encoding normalizes), without running the encoder on pieces known to be one token:
/// a single byte (every byte is a token of a byte-level encoding) and a number of up to three
/// ASCII digits (the pre-tokenizers cut numbers so, and both vocabularies hold every such
/// number: a test below checks all 1,110). The encoder allocates its state per piece; a new
/// word of a prompt (an id, a ticket number) is mostly such pieces. ASCII text is cut by
/// [`pretokenize`] (the same pieces, without the regular expression's search).
fn by_pieces(t: &bpe_openai::Tokenizer, pattern: Pattern, text: &str) -> usize {
    let one = |p: &str| {
        if p.len() == 1 || (p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())) {
            1
        } else {
            t.bpe.count(p.as_bytes())
        }
    };
    if text.is_ascii() { pretokenize::pieces(pattern, text).map(one).sum() } else { t.split(text).map(one).sum() }
}

static O200K: Bpe =
    Bpe { tokenizer: bpe_openai::o200k_base, pattern: Pattern::O200k, name: "o200k_base", memo: &O200K_MEMO };
static CL100K: Bpe =
    Bpe { tokenizer: bpe_openai::cl100k_base, pattern: Pattern::Cl100k, name: "cl100k_base", memo: &CL100K_MEMO };

/// The counter for a model: OpenAI's own encoding where known; for other providers' models
/// `o200k_base` gives an estimate (their tokenizers are not public).
pub fn for_model(model: &str) -> &'static dyn TokenCounter {
    // Case ignored without a lowered copy: asked on every admission to a token limit.
    let starts = |p: &str| model.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if starts("gpt-4-") || model.eq_ignore_ascii_case("gpt-4") || starts("gpt-3.5") || starts("text-embedding-") {
        &CL100K
    } else {
        &O200K
    }
}

/// Tokens of a chat request as a provider would bill its prompt, following OpenAI's published
/// accounting (3 tokens per message, 3 to prime the reply); tool definitions count as their JSON.
pub fn estimate_prompt(req: &ChatRequest) -> u64 {
    let c = for_model(&req.model);
    let mut n = 3;
    for s in &req.system {
        n += 3 + c.count(s);
    }
    for m in &req.messages {
        n += 3;
        for p in &m.parts {
            n += part_tokens(c, p);
        }
    }
    for t in &req.tools {
        n += c.count(&t.name) + t.description.as_deref().map_or(0, |d| c.count(d)) + c.count(&t.parameters.to_string());
    }
    n as u64
}

fn part_tokens(c: &dyn TokenCounter, p: &Part) -> usize {
    match p {
        Part::Text(t) => c.count(t),
        // Images are billed by size, which the gateway does not decode: a flat estimate.
        Part::Image(_) => 85,
        Part::ToolCall { name, arguments, .. } => c.count(name) + c.count(arguments),
        Part::ToolResult { content, .. } => content.iter().map(|p| part_tokens(c, p)).sum(),
        Part::Thinking { text, .. } => c.count(text),
    }
}

/// Tokens of generated text.
pub fn estimate_text(model: &str, text: &str) -> u64 {
    for_model(model).count_once(text) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_openai() {
        // tiktoken's cl100k_base ids for "Hello, world!" are [9906, 11, 1917, 0].
        assert_eq!(bpe_openai::cl100k_base().encode("Hello, world!"), vec![9906, 11, 1917, 0]);
        assert_eq!(O200K.count("Hello, world!"), 4);
        assert_eq!(CL100K.count("Hello, world!"), 4);
        assert_eq!(O200K.count(""), 0);
        assert_eq!(for_model("gpt-4-turbo").encoding(), "cl100k_base");
        assert_eq!(for_model("gpt-4o-mini").encoding(), "o200k_base");
        assert_eq!(for_model("GPT-4").encoding(), "cl100k_base");
        assert_eq!(for_model("Text-Embedding-3-small").encoding(), "cl100k_base");
        assert_eq!(for_model("gpt-4").encoding(), "cl100k_base");
        assert_eq!(for_model("gpt-4o").encoding(), "o200k_base");
        assert_eq!(for_model("gpt").encoding(), "o200k_base");
    }

    /// The pieces counted without the encoder are one token in both encodings, and counting by
    /// pieces is the tokenizer's own count.
    #[test]
    fn short_pieces_are_one_token() {
        for (tokenizer, pattern) in
            [(bpe_openai::o200k_base(), Pattern::O200k), (bpe_openai::cl100k_base(), Pattern::Cl100k)]
        {
            for b in 0u8..128 {
                let s = char::from(b).to_string();
                assert_eq!(tokenizer.bpe.count(s.as_bytes()), 1, "{s:?}");
            }
            for width in 1..=3 {
                for n in 0..10usize.pow(width) {
                    let s = format!("{n:0>w$}", w = width as usize);
                    assert_eq!(tokenizer.bpe.count(s.as_bytes()), 1, "{s:?}");
                }
            }
            for text in ["Ticket 123456789-5.", "a 1 22 333 4444 55555", "x\n\n  y\t007", "東京 é 🙂 ok", ""] {
                assert_eq!(by_pieces(tokenizer, pattern, text), tokenizer.count(text), "{text:?}");
            }
        }
    }

    /// The memory counts a new text by its words: the sum must be the tokenizer's own count of
    /// the whole, for both encodings, on prose, code, JSON, numbers, contractions, odd spacing
    /// and other scripts.
    #[test]
    fn counting_by_words_is_counting_the_whole() {
        const BITS: [&str; 28] = [
            "the",
            "The",
            "gateway's",
            "don't",
            "I'M",
            "12345",
            "3.14",
            "-",
            "?",
            "!!",
            "{\"a\":1}",
            "fn main() {",
            "}",
            "\n",
            "\r\n",
            "\t",
            " ",
            "  ",
            "\u{a0}",
            "naïve",
            "東京",
            "🙂",
            "e\u{301}",
            "x/y",
            "'s",
            "...",
            "ÄÖÜ",
            "über",
        ];
        // Seeded: the same texts on every run.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x2545_f491_4f6c_dd1d);
        let mut next = move || rand::Rng::random::<u64>(&mut rng);
        for (tokenizer, pattern) in
            [(bpe_openai::o200k_base(), Pattern::O200k), (bpe_openai::cl100k_base(), Pattern::Cl100k)]
        {
            for _ in 0..600 {
                let n = 1 + next() % 24;
                let text: String = (0..n)
                    .map(|_| {
                        let bit = BITS[(next() % BITS.len() as u64) as usize];
                        if next() % 3 == 0 { bit.to_string() } else { format!(" {bit}") }
                    })
                    .collect();
                let by_words: usize =
                    super::super::token_memo::words(&text).map(|w| by_pieces(tokenizer, pattern, w)).sum();
                assert_eq!(by_words, tokenizer.count(text.as_str()), "{text:?}");
                let by_clauses: usize =
                    super::super::token_memo::clauses(&text).map(|c| by_pieces(tokenizer, pattern, c)).sum();
                assert_eq!(by_clauses, tokenizer.count(text.as_str()), "{text:?}");
            }
        }
    }
}
