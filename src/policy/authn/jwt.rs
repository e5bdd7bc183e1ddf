//! JWT bearer tokens: the issuer picks the provider, the header's `kid` (and algorithm family)
//! the key; signature, `exp`/`nbf` (with the configured skew), issuer and audience are checked
//! by `jsonwebtoken` (on ring). The algorithm must fit the key: an RSA key never verifies an
//! HMAC token (no algorithm confusion), HMAC needs a configured shared key, `none` is refused.

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::super::jwks::JwksCache;
use crate::ir::policy::{JwksIr, JwtIr, JwtProviderIr};
use crate::policy::identity::Identity;

/// Longest token accepted (real tokens are a few KiB).
pub const MAX_TOKEN: usize = 16 * 1024;

/// Whether a bearer credential has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// Why a token was refused (said to the client in the 401).
pub type Refusal = String;

pub async fn verify(jwt: &JwtIr, jwks: &JwksCache, token: &str) -> Result<(Identity, bool), Refusal> {
    if token.len() > MAX_TOKEN {
        return Err(format!("the token is larger than {MAX_TOKEN} bytes"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("the token's header is not valid: {e}"))?;
    let issuer = unverified_issuer(token).ok_or("the token has no issuer (iss)")?;
    let provider = jwt
        .providers
        .iter()
        .find(|p| p.issuer == issuer)
        .ok_or_else(|| format!("tokens of issuer {issuer:?} are not accepted here"))?;
    let set = match &provider.keys {
        JwksIr::Static(set) => set.clone(),
        JwksIr::Remote { url } => jwks.get(url, header.kid.as_deref()).await?,
    };
    let key = pick_key(&set, header.kid.as_deref(), header.alg).ok_or("no configured key verifies this token")?;
    let decoding = DecodingKey::from_jwk(key).map_err(|e| format!("the key cannot be used: {e}"))?;
    let validation = validation(provider, header.alg);
    let data = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map_err(|e| format!("the token is not valid: {e}"))?;
    Ok((identity(provider, data.claims), provider.forward))
}

/// The `iss` claim, read before verification only to pick the provider.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// The key for `kid` (or, without one, the first key of the algorithm's family); the token's
/// algorithm must be of the key's family and, when the key names one, that algorithm.
fn pick_key<'s>(set: &'s JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'s Jwk> {
    let family_ok = |k: &Jwk| {
        matches!(
            (&k.algorithm, alg),
            (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
                | (AlgorithmParameters::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
                | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
                | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
                | (AlgorithmParameters::OctetKey(_), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
        )
    };
    let alg_ok = |k: &Jwk| k.common.key_algorithm.is_none_or(|ka| ka.to_string() == format!("{alg:?}"));
    set.keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .find(|k| family_ok(k) && alg_ok(k))
}

fn validation(p: &JwtProviderIr, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = p.clock_skew;
    v.validate_nbf = true;
    v.set_issuer(&[&p.issuer]);
    if p.audiences.is_empty() {
        v.validate_aud = false;
    } else {
        v.set_audience(&p.audiences);
    }
    v
}

fn identity(p: &JwtProviderIr, claims: Value) -> Identity {
    let name = match claims.get(&p.name_claim) {
        Some(Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => String::new(),
    };
    let attributes = claims
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default();
    Identity { name, method: "jwt", attributes, claims, models: vec![] }
}

/// A static key set, for tests elsewhere in the crate.
#[cfg(test)]
pub fn static_keys(json: &str) -> JwksIr {
    JwksIr::Static(std::sync::Arc::new(serde_json::from_str(json).expect("a JWKS")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_issuers() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("sk-abc"));
        assert_eq!(unverified_issuer("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln").as_deref(), Some("x"));
        assert_eq!(unverified_issuer("a.!!!.c"), None);
    }

    #[tokio::test]
    async fn hmac_tokens_need_a_shared_key_and_none_is_refused() {
        // A shared key "secret" (base64url "c2VjcmV0"), and a token signed with it.
        let provider = |keys| JwtIr {
            providers: vec![JwtProviderIr {
                issuer: "https://issuer.test".into(),
                audiences: vec!["sluice".into()],
                keys,
                clock_skew: 60,
                forward: false,
                name_claim: "sub".into(),
            }],
        };
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() + 600;
        let claims = serde_json::json!({"iss": "https://issuer.test", "aud": "sluice", "sub": "alice", "exp": exp});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .expect("token");
        let cache = JwksCache::default();
        let shared = provider(static_keys(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#));
        let (id, forward) = verify(&shared, &cache, &token).await.expect("valid");
        assert_eq!((id.name.as_str(), id.method, forward), ("alice", "jwt", false));
        // The same token against an RSA key: refused (no algorithm confusion).
        let rsa = provider(static_keys(
            r#"{"keys": [{"kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}]}"#,
        ));
        assert!(verify(&rsa, &cache, &token).await.is_err());
        // alg: none.
        let none = format!("eyJhbGciOiJub25lIn0.{}.", token.split('.').nth(1).expect("payload"));
        assert!(verify(&shared, &cache, &none).await.is_err());
        // Too large.
        assert!(verify(&shared, &cache, &"a".repeat(MAX_TOKEN + 1)).await.is_err());
    }
}
