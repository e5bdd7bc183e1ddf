//! Portable session ids: what a downstream session needs to be served anywhere (the route's
//! backends it belongs to, the protocol version, when it was issued), sealed with AES-256-GCM
//! under a key from a Secret. Any Sluice holding the same key opens the id and serves the
//! session; a forged, altered or foreign id fails to open and is answered as unknown.
//!
//! Format: `s1.` + base64url(96-bit random nonce ‖ ciphertext ‖ 128-bit tag) of the JSON
//! `{"o": owner, "p": protocol version, "t": issued (Unix seconds), "n": random, "r": whether the
//! client answers server requests}`, with the
//! associated data `sluice-mcp-session/1`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "s1.";
const AAD: &[u8] = b"sluice-mcp-session/1";

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "o")]
    pub owner: String,
    #[serde(rename = "p")]
    pub protocol_version: String,
    #[serde(rename = "t")]
    pub issued: u64,
    #[serde(rename = "n")]
    pub nonce: u64,
    /// The client declared it answers server requests.
    #[serde(rename = "r", default)]
    pub takes_requests: bool,
}

pub use crate::ir::creds::SessionKey;

/// Sealing and opening session ids with a route's [`SessionKey`].
pub trait Seal {
    fn seal(&self, claims: &Claims) -> Option<String>;
    /// The claims of an id this key sealed; `None` for anything else.
    fn open(&self, id: &str) -> Option<Claims>;
}

impl Seal for SessionKey {
    fn seal(&self, claims: &Claims) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(claims).ok()?;
        self.key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut data).ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, id: &str) -> Option<Claims> {
        let raw = URL_SAFE_NO_PAD.decode(id.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(AAD), &mut sealed).ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            owner: "default/tools".into(),
            protocol_version: "2025-11-25".into(),
            issued: 1_800_000_000,
            nonce: 7,
            takes_requests: true,
        }
    }

    #[test]
    fn sealed_ids_open_with_the_same_key_only() {
        let a = SessionKey::new(b"0123456789abcdef0123456789abcdef").expect("key");
        let same = SessionKey::new(b"0123456789abcdef0123456789abcdef").expect("key");
        let other = SessionKey::new(b"another key, also long enough!!").expect("key");
        let id = a.seal(&claims()).expect("seal");
        assert!(id.starts_with("s1.") && id.bytes().all(|b| b.is_ascii_graphic()), "{id}");
        assert_eq!(same.open(&id), Some(claims()), "a second process with the key opens it");
        assert_eq!(other.open(&id), None, "another key does not");
        assert_ne!(a.seal(&claims()), Some(id.clone()), "every id is sealed with a fresh nonce");
        // Any change to any byte is detected.
        let raw = URL_SAFE_NO_PAD.decode(&id[3..]).expect("base64");
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            assert_eq!(a.open(&format!("s1.{}", URL_SAFE_NO_PAD.encode(&t))), None, "byte {i}");
        }
        for forged in ["", "s1.", "s1.AAAA", "x1.abc", "s1.!!!!", &id[..id.len() - 2]] {
            assert_eq!(a.open(forged), None, "{forged:?}");
        }
        assert!(SessionKey::new(b"short").is_err());
    }
}
