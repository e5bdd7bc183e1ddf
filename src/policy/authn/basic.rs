//! Basic credentials against an htpasswd file (bcrypt, or legacy `{SHA}`).

use base64::Engine as _;
use http::HeaderMap;

use crate::ir::policy::{BasicIr, PasswordHash};
use crate::policy::identity::Identity;

/// Longest `user:password` accepted before decoding (bcrypt reads 72 bytes at most anyway).
const MAX_CREDENTIALS: usize = 1024;

/// The user and password of an `Authorization: Basic` header, if well formed.
pub fn presented(headers: &HeaderMap) -> Option<Result<(String, String), &'static str>> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "))?.trim();
    if encoded.len() > MAX_CREDENTIALS {
        return Some(Err("the Basic credentials are too long"));
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return Some(Err("the Basic credentials are not base64"));
    };
    let Ok(text) = String::from_utf8(raw) else { return Some(Err("the Basic credentials are not UTF-8")) };
    match text.split_once(':') {
        Some((u, p)) => Some(Ok((u.to_string(), p.to_string()))),
        None => Some(Err("the Basic credentials are not user:password")),
    }
}

pub fn check(basic: &BasicIr, user: &str, password: &str) -> Option<Identity> {
    let ok = match basic.users.get(user)? {
        PasswordHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        PasswordHash::Sha1(want) => {
            let got = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
            got.as_ref().len() == want.len() && got.as_ref().iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
        }
    };
    ok.then(|| Identity { name: user.to_string(), method: "basic", ..Identity::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic() -> BasicIr {
        let hash =
            bcrypt::hash_with_salt("s3cret", 4, [7; 16]).expect("hash").format_for_version(bcrypt::Version::TwoY);
        let text = format!("alice:{hash}\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
        BasicIr { users: crate::ir::translate::policy_htpasswd(&text).expect("htpasswd"), realm: "sluice".into() }
    }

    #[test]
    fn bcrypt_and_sha_users() {
        let b = basic();
        assert_eq!(check(&b, "alice", "s3cret").map(|i| i.name), Some("alice".into()));
        assert!(check(&b, "alice", "s3cre").is_none());
        assert_eq!(check(&b, "bob", "password").map(|i| i.name), Some("bob".into()), "{{SHA}} of `password`");
        assert!(check(&b, "bob", "Password").is_none());
        assert!(check(&b, "carol", "s3cret").is_none());
    }

    #[test]
    fn malformed_headers_are_refused_not_panicked_on() {
        for v in ["Basic !!!", "Basic YWxpY2U=", &format!("Basic {}", "A".repeat(5000))] {
            let mut h = HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(v).expect("value"));
            assert!(matches!(presented(&h), Some(Err(_))), "{v}");
        }
    }
}
