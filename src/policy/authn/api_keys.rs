//! Virtual keys: the key a client presents is hashed (SHA-256) and compared with every
//! configured key's digest in constant time, so neither a prefix nor a length tells anything.

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::ir::policy::{ApiKeyIr, ApiKeysIr};
use crate::policy::identity::Identity;

/// Where clients put keys: OpenAI's, Anthropic's and Google's clients.
const KEY_HEADERS: [&str; 2] = ["x-api-key", "x-goog-api-key"];

/// The key presented, and the header it came in; `None` when there is none.
pub fn presented<'h>(keys: &ApiKeysIr, headers: &'h HeaderMap) -> Option<(&'h str, http::HeaderName)> {
    if let Some(k) = super::bearer(headers) {
        return Some((k, http::header::AUTHORIZATION));
    }
    let named = KEY_HEADERS.iter().map(|h| http::HeaderName::from_static(h)).chain(keys.headers.iter().cloned());
    for name in named {
        if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()) {
            return Some((v, name));
        }
    }
    None
}

/// A key in the query's `key` parameter, as Google's clients may send it (percent-decoded).
pub fn from_query(query: Option<&str>) -> Option<String> {
    let v = query?.split('&').find_map(|kv| kv.strip_prefix("key="))?;
    let v = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `uri` without its `key` query parameters: a virtual key never goes upstream.
pub fn without_query_key(uri: &http::Uri) -> Option<http::Uri> {
    let query = uri.query()?;
    if !query.split('&').any(|kv| kv.starts_with("key=")) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("key=") && !kv.is_empty()).collect();
    let path_and_query =
        if kept.is_empty() { uri.path().to_string() } else { format!("{}?{}", uri.path(), kept.join("&")) };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    http::Uri::from_parts(parts).ok()
}

/// Equality of two digests in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub enum Outcome {
    Accepted(Identity),
    Unknown,
    Expired(String),
}

/// The identity of `key`, checked against every configured key.
pub fn check(keys: &ApiKeysIr, key: &str) -> Outcome {
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut digest = [0u8; 32];
    digest.copy_from_slice(d.as_ref());
    // Every key is compared, whether or not an earlier one matched.
    let mut found: Option<&ApiKeyIr> = None;
    for k in &keys.keys {
        if same(&k.digest, &digest) && found.is_none() {
            found = Some(k);
        }
    }
    let Some(k) = found else { return Outcome::Unknown };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if k.expires.is_some_and(|e| e <= now) {
        return Outcome::Expired(k.name.clone());
    }
    Outcome::Accepted(Identity {
        name: k.name.clone(),
        method: "api_key",
        attributes: k.attributes.clone(),
        claims: serde_json::Value::Null,
        models: k.models.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeysIr {
        let key = |name: &str, text: &str| crate::ir::translate::policy_api_key(name, text).expect("a key");
        ApiKeysIr {
            keys: vec![
                key("alice", "sk-alice-0123456789"),
                key("old", r#"{"key": "sk-old", "expires": "2020-01-01T00:00:00Z"}"#),
            ],
            headers: vec![],
        }
    }

    #[test]
    fn only_the_whole_key_is_accepted() {
        let k = keys();
        assert!(matches!(check(&k, "sk-alice-0123456789"), Outcome::Accepted(i) if i.name == "alice"));
        assert!(matches!(check(&k, "sk-old"), Outcome::Expired(n) if n == "old"));
        for wrong in
            ["", "sk-alice", "sk-alice-012345678", "sk-alice-01234567890", "SK-ALICE-0123456789", "sk-alice-0123456788"]
        {
            assert!(matches!(check(&k, wrong), Outcome::Unknown), "{wrong:?}");
        }
    }

    /// A key is never accepted by a prefix of it, an extension of it, or any other string of
    /// another length: checked over every prefix and a run of generated variants.
    #[test]
    fn no_prefix_extension_or_variant_passes() {
        let k = keys();
        let key = "sk-alice-0123456789";
        for n in 0..key.len() {
            assert!(matches!(check(&k, &key[..n]), Outcome::Unknown), "prefix {n}");
            assert!(matches!(check(&k, &format!("{key}{}", &key[..n + 1])), Outcome::Unknown), "extension {n}");
        }
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut v: Vec<u8> = key.bytes().collect();
            let i = seed as usize % v.len();
            v[i] = v[i].wrapping_add(1 + (seed >> 8) as u8 % 200);
            if let Ok(s) = String::from_utf8(v) {
                assert!(!matches!(check(&k, &s), Outcome::Accepted(_)), "{s:?}");
            }
        }
    }

    #[test]
    fn keys_are_read_from_every_client_header() {
        let k = keys();
        for (name, value) in [("authorization", "Bearer sk-1"), ("x-api-key", "sk-1"), ("x-goog-api-key", "sk-1")] {
            let mut h = HeaderMap::new();
            h.insert(http::HeaderName::from_static(name), http::HeaderValue::from_static(value));
            assert_eq!(presented(&k, &h).map(|(v, _)| v), Some("sk-1"), "{name}");
        }
        assert!(presented(&k, &HeaderMap::new()).is_none());
    }

    #[test]
    fn a_key_in_the_query_is_read_and_removed() {
        assert_eq!(from_query(Some("alt=sse&key=sk%2D1")).as_deref(), Some("sk-1"));
        assert_eq!(from_query(Some("alt=sse")), None);
        assert_eq!(from_query(Some("key=")), None);
        let uri: http::Uri = "/v1beta/models/g:streamGenerateContent?alt=sse&key=sk-1".parse().unwrap();
        assert_eq!(without_query_key(&uri).unwrap(), "/v1beta/models/g:streamGenerateContent?alt=sse");
        let uri: http::Uri = "/v1beta/models?key=sk-1".parse().unwrap();
        assert_eq!(without_query_key(&uri).unwrap(), "/v1beta/models");
        assert!(without_query_key(&"/v1/models?x=1".parse().unwrap()).is_none());
    }
}
