//! Pagination cursors that span targets. The cursor handed to the client is opaque: base64url
//! (no padding) of a small JSON object naming the listing, every target that has more pages
//! with its own cursor for the next one, and the targets done with. A target in neither set
//! (one added by a reload while a client pages) starts from its first page.
//!
//! The cursor is not secret and not signed: it only says where each target's listing stands,
//! and a target validates its own cursors. Anything that does not decode, names another
//! listing, or names a target in both sets is answered JSON-RPC `-32602`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::jsonrpc::RpcError;
use super::upstream::ListKind;

/// Where a federated listing stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Format version.
    pub v: u8,
    pub kind: ListKind,
    /// Targets (by id) with more pages, and the target's own cursor for the next.
    #[serde(default)]
    pub next: BTreeMap<String, String>,
    /// Targets (by id) done with: exhausted, or left out of this pass after failing.
    #[serde(default)]
    pub done: BTreeSet<String>,
}

/// What to ask a target for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position<'a> {
    /// Its first page (no cursor).
    Start,
    /// The page after this cursor of its own.
    Next(&'a str),
    /// Nothing: it is done with.
    Done,
}

const VERSION: u8 = 1;

impl Cursor {
    /// The position before the first page.
    pub fn start(kind: ListKind) -> Self {
        Cursor { v: VERSION, kind, next: BTreeMap::new(), done: BTreeSet::new() }
    }

    pub fn position(&self, target: &str) -> Position<'_> {
        if self.done.contains(target) {
            Position::Done
        } else if let Some(c) = self.next.get(target) {
            Position::Next(c)
        } else {
            Position::Start
        }
    }

    /// Whether some target has pages left (then the cursor is handed to the client).
    pub fn has_more(&self) -> bool {
        !self.next.is_empty()
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a client's cursor for the listing `kind`.
    pub fn decode(text: &str, kind: ListKind) -> Result<Self, RpcError> {
        let invalid = |why: &str| RpcError::invalid_params(format!("invalid cursor: {why}"));
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| invalid("not base64url"))?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor this server issued"))?;
        if cursor.v != VERSION {
            return Err(invalid("unknown version"));
        }
        if cursor.kind != kind {
            return Err(invalid(&format!("it pages {}, not {}", cursor.kind.method(), kind.method())));
        }
        if cursor.next.keys().any(|t| cursor.done.contains(t)) {
            return Err(invalid("a target is both pending and done"));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_says_where_each_target_stands() {
        let mut c = Cursor::start(ListKind::Resources);
        assert!(!c.has_more());
        c.next.insert("ns/b/ev".into(), "upstream=10".into());
        c.done.insert("ns/b/time".into());
        let text = c.encode();
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        let back = Cursor::decode(&text, ListKind::Resources).expect("decodes");
        assert_eq!(back, c);
        assert!(back.has_more());
        assert_eq!(back.position("ns/b/ev"), Position::Next("upstream=10"));
        assert_eq!(back.position("ns/b/time"), Position::Done);
        assert_eq!(back.position("ns/b/new"), Position::Start);
    }

    #[test]
    fn rejects_what_it_did_not_issue() {
        let code = |text: &str, kind| Cursor::decode(text, kind).map(|_| 0).unwrap_or_else(|e| e.code);
        assert_eq!(code("zz", ListKind::Tools), -32602);
        assert_eq!(code("!!!", ListKind::Tools), -32602);
        assert_eq!(code(&URL_SAFE_NO_PAD.encode(b"{\"v\":1}"), ListKind::Tools), -32602);
        assert_eq!(code(&URL_SAFE_NO_PAD.encode(b"[1,2]"), ListKind::Tools), -32602);
        let tools = Cursor::start(ListKind::Tools).encode();
        assert_eq!(code(&tools, ListKind::Tools), 0);
        let err = Cursor::decode(&tools, ListKind::Prompts).expect_err("another listing");
        assert!(err.message.contains("tools/list"), "{}", err.message);
        let mut both = Cursor::start(ListKind::Tools);
        both.next.insert("a".into(), "x".into());
        both.done.insert("a".into());
        assert_eq!(code(&both.encode(), ListKind::Tools), -32602);
        let v2 = URL_SAFE_NO_PAD.encode(br#"{"v":2,"kind":"tools"}"#);
        assert_eq!(code(&v2, ListKind::Tools), -32602);
    }
}
