//! The authentication section of a TrafficPolicy, compiled: virtual keys hashed, htpasswd
//! parsed, JWKS read, the external auth service resolved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::HeaderName;
use serde_json::Value;

use super::super::duration;
use super::super::index::Index;
use super::super::refs::{RefFailure, invalid, secret_value};
use crate::api::{
    ApiKeys, Authentication, BasicAuth, ExternalAuth, ExternalAuthProtocol, JwksSource, Jwt, LocalSecretRef,
};
use crate::ir::policy::{
    ApiKeyIr, ApiKeysIr, AuthnIr, BasicIr, ExternalAuthIr, JwksIr, JwtIr, JwtProviderIr, PasswordHash,
};

pub fn compile(ix: &Index<'_>, ns: &str, a: &Authentication) -> Result<AuthnIr, RefFailure> {
    let at = |field: &'static str| move |(r, m): RefFailure| (r, format!("spec.authentication.{field}: {m}"));
    let out = AuthnIr {
        api_keys: a.api_keys.as_ref().map(|k| api_keys(ix, ns, k)).transpose().map_err(at("apiKeys"))?,
        jwt: a.jwt.as_ref().map(|j| jwt(ix, ns, j)).transpose().map_err(at("jwt"))?,
        basic: a.basic.as_ref().map(|b| basic(ix, ns, b)).transpose().map_err(at("basic"))?,
        external: a.external.as_ref().map(|e| external(ix, ns, e)).transpose().map_err(at("external"))?,
        optional: a.optional.unwrap_or(false),
    };
    if out.api_keys.is_none() && out.jwt.is_none() && out.basic.is_none() && out.external.is_none() {
        return Err(invalid("spec.authentication: set at least one of apiKeys, jwt, basic, external"));
    }
    Ok(out)
}

fn header_name(h: &str, field: &str) -> Result<HeaderName, RefFailure> {
    HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
        .map_err(|_| invalid(format!("{field}: {h:?} is not a header name")))
}

/// The data keys of a Secret, `stringData` and `data` together.
fn secret_keys(ix: &Index<'_>, ns: &str, name: &str) -> Result<Vec<String>, RefFailure> {
    let s =
        ix.secret(ns, name).ok_or_else(|| ("BackendNotFound".to_string(), format!("Secret {ns}/{name} not found")))?;
    let mut keys: Vec<String> = s.data.keys().chain(s.string_data.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

fn api_keys(ix: &Index<'_>, ns: &str, k: &ApiKeys) -> Result<ApiKeysIr, RefFailure> {
    let mut keys = Vec::new();
    for r in &k.secret_refs {
        for name in secret_keys(ix, ns, &r.name)? {
            let bytes = secret_value(ix, ns, &r.name, &name)?.unwrap_or_default();
            let text = String::from_utf8(bytes)
                .map_err(|_| invalid(format!("Secret {ns}/{} key {name:?} is not UTF-8", r.name)))?;
            keys.push(
                api_key(&name, text.trim())
                    .map_err(|m| invalid(format!("Secret {ns}/{} key {name:?}: {m}", r.name)))?,
            );
        }
    }
    if keys.is_empty() {
        return Err(invalid("the Secrets hold no key"));
    }
    let headers = k.headers.iter().map(|h| header_name(h, "headers")).collect::<Result<_, _>>()?;
    Ok(ApiKeysIr { keys, headers })
}

/// One Secret entry: the key itself, or `{"key" | "sha256", "attributes", "models", "expires"}`.
pub fn api_key(name: &str, text: &str) -> Result<ApiKeyIr, String> {
    let sha256 = |s: &str| -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    };
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
        if text.is_empty() {
            return Err("the key is empty".into());
        }
        return Ok(ApiKeyIr {
            name: name.to_string(),
            digest: sha256(text),
            attributes: BTreeMap::new(),
            models: vec![],
            expires: None,
        });
    };
    for k in o.keys() {
        if !["key", "sha256", "attributes", "models", "expires"].contains(&k.as_str()) {
            return Err(format!("unknown field {k:?} (key, sha256, attributes, models, expires)"));
        }
    }
    let digest = match (o.get("key").and_then(Value::as_str), o.get("sha256").and_then(Value::as_str)) {
        (Some(k), None) if !k.is_empty() => sha256(k),
        (None, Some(h)) => {
            let bytes = hex(h).ok_or("sha256 must be 64 hex digits")?;
            bytes.try_into().map_err(|_| "sha256 must be 64 hex digits")?
        }
        _ => return Err("set exactly one of key and sha256".into()),
    };
    let attributes = match o.get("attributes") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("attributes.{k} must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("attributes must be an object of strings".into()),
    };
    let models = match o.get("models") {
        None => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| m.as_str().map(str::to_string).ok_or("models must be strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("models must be a list of strings".into()),
    };
    let expires = match o.get("expires").map(|e| e.as_str().ok_or("expires must be an RFC 3339 time")) {
        None => None,
        Some(e) => Some(unix_seconds(e?).ok_or("expires must be an RFC 3339 time (2027-01-31T00:00:00Z)")?),
    };
    Ok(ApiKeyIr { name: name.to_string(), digest, attributes, models, expires })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Seconds since the epoch of an RFC 3339 time (`Z` or `±hh:mm`).
pub fn unix_seconds(t: &str) -> Option<u64> {
    let (date, rest) = t.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => return None,
    };
    let mut hms = time.splitn(3, ':');
    let (h, mi) = (hms.next()?.parse::<i64>().ok()?, hms.next()?.parse::<i64>().ok()?);
    let s = hms.next()?.split('.').next()?.parse::<i64>().ok()?;
    let off = match offset {
        "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o.get(1..)?.split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s - off).ok()
}

fn jwt(ix: &Index<'_>, ns: &str, j: &Jwt) -> Result<JwtIr, RefFailure> {
    if j.providers.is_empty() {
        return Err(invalid("providers: at least one"));
    }
    let mut providers = Vec::new();
    for (i, p) in j.providers.iter().enumerate() {
        let keys = jwks(ix, ns, &p.jwks).map_err(|(r, m)| (r, format!("providers[{i}].jwks: {m}")))?;
        providers.push(JwtProviderIr {
            issuer: p.issuer.clone(),
            audiences: p.audiences.clone(),
            keys,
            clock_skew: u64::from(p.clock_skew_seconds.unwrap_or(60)),
            forward: p.forward.unwrap_or(false),
            name_claim: p.name_claim.clone().unwrap_or_else(|| "sub".into()),
        });
    }
    Ok(JwtIr { providers })
}

fn jwks(ix: &Index<'_>, ns: &str, s: &JwksSource) -> Result<JwksIr, RefFailure> {
    let text = match (&s.inline, &s.secret_ref, &s.config_map_ref, &s.url) {
        (Some(t), None, None, None) => t.clone(),
        (None, Some(r), None, None) => {
            let key = r.key.as_deref().unwrap_or("jwks.json");
            let bytes = secret_value(ix, ns, &r.name, key)?
                .ok_or_else(|| invalid(format!("Secret {ns}/{} has no key {key:?}", r.name)))?;
            String::from_utf8(bytes).map_err(|_| invalid("the JWKS is not UTF-8"))?
        }
        (None, None, Some(r), None) => {
            let key = r.key.as_deref().unwrap_or("jwks.json");
            let cm = ix
                .config_map(ns, &r.name)
                .ok_or_else(|| ("BackendNotFound".to_string(), format!("ConfigMap {ns}/{} not found", r.name)))?;
            cm.data.get(key).cloned().ok_or_else(|| invalid(format!("ConfigMap {ns}/{} has no key {key:?}", r.name)))?
        }
        (None, None, None, Some(url)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(format!("url {url:?} must be http(s)")));
            }
            return Ok(JwksIr::Remote { url: url.clone() });
        }
        _ => return Err(invalid("set exactly one of inline, secretRef, configMapRef, url")),
    };
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not a JWKS document: {e}")))?;
    if set.keys.is_empty() {
        return Err(invalid("the JWKS holds no key"));
    }
    Ok(JwksIr::Static(Arc::new(set)))
}

fn basic(ix: &Index<'_>, ns: &str, b: &BasicAuth) -> Result<BasicIr, RefFailure> {
    let LocalSecretRef { name, key } = &b.secret_ref;
    let key = key.as_deref().unwrap_or(".htpasswd");
    let bytes =
        secret_value(ix, ns, name, key)?.ok_or_else(|| invalid(format!("Secret {ns}/{name} has no key {key:?}")))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("the htpasswd file is not UTF-8"))?;
    let users = htpasswd(&text).map_err(invalid)?;
    Ok(BasicIr { users, realm: b.realm.clone().unwrap_or_else(|| "sluice".into()) })
}

/// `user:hash` lines; bcrypt and `{SHA}` hashes (MD5-crypt and crypt(3) are refused: weak).
pub fn htpasswd(text: &str) -> Result<HashMap<String, PasswordHash>, String> {
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line.split_once(':').ok_or(format!("line {n}: not user:hash"))?;
        let hash = if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
            PasswordHash::Bcrypt(hash.to_string())
        } else if let Some(b64) = hash.strip_prefix("{SHA}") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| format!("line {n}: {{SHA}} hash is not base64"))?;
            PasswordHash::Sha1(raw)
        } else {
            return Err(format!("line {n}: only bcrypt ($2y$) and {{SHA}} hashes are supported"));
        };
        users.insert(user.to_string(), hash);
    }
    if users.is_empty() {
        return Err("the htpasswd file has no user".into());
    }
    Ok(users)
}

pub fn external(ix: &Index<'_>, ns: &str, e: &ExternalAuth) -> Result<ExternalAuthIr, RefFailure> {
    let f = &e.filter;
    if f.protocol != ExternalAuthProtocol::Http {
        return Err(invalid("protocol: only HTTP is supported"));
    }
    let (upstream, authority) = super::service::resolve(ix, ns, &f.backend_ref, "backendRef")?;
    let http = f.http.clone().unwrap_or_default();
    let headers = |v: &[String], field| v.iter().map(|h| header_name(h, field)).collect::<Result<Vec<_>, _>>();
    let timeout = match &e.timeout {
        None => Duration::from_secs(1),
        Some(t) => duration::parse(t).map_err(|m| invalid(format!("timeout: {m}")))?,
    };
    Ok(ExternalAuthIr {
        upstream: Arc::new(upstream),
        authority,
        path_prefix: http.path.unwrap_or_default().trim_end_matches('/').to_string(),
        allowed_headers: headers(&http.allowed_headers, "http.allowedHeaders")?,
        allowed_response_headers: headers(&http.allowed_response_headers, "http.allowedResponseHeaders")?,
        timeout,
        fail_open: e.fail_open.unwrap_or(false),
        identity_header: e.identity_header.as_deref().map(|h| header_name(h, "identityHeader")).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2027-01-31T00:00:00Z"), Some(1_801_353_600));
        assert_eq!(unix_seconds("2027-01-31T02:00:00+02:00"), Some(1_801_353_600));
        assert_eq!(unix_seconds("2027-13-31T00:00:00Z"), None);
        assert_eq!(unix_seconds("yesterday"), None);
    }

    #[test]
    fn keys_are_plain_or_described() {
        let k = api_key("alice", "sk-alice").expect("plain");
        assert_eq!(k.digest.len(), 32);
        let d = api_key("bob", r#"{"key": "sk-bob", "attributes": {"team": "ml"}, "models": ["gpt-*"], "expires": "2027-01-31T00:00:00Z"}"#)
            .expect("described");
        assert_eq!((d.attributes["team"].as_str(), d.models.len(), d.expires), ("ml", 1, Some(1_801_353_600)));
        let hashed = api_key("carol", &format!(r#"{{"sha256": "{}"}}"#, "ab".repeat(32))).expect("hashed");
        assert_eq!(hashed.digest, [0xab; 32]);
        for bad in [r#"{"key": "a", "sha256": "b"}"#, r#"{"sha256": "xyz"}"#, r#"{"key": "a", "team": "x"}"#, ""] {
            assert!(api_key("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn htpasswd_takes_bcrypt_and_sha_only() {
        let users = htpasswd("# users\nalice:$2y$05$abcdefghijklmnopqrstuu5r5Cm0pbS3l6dQ8XqBGvDX6Ec9q2zK\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
            .expect("parsed");
        assert_eq!(users.len(), 2);
        assert!(htpasswd("carol:$apr1$xyz$abc").is_err(), "MD5-crypt is refused");
        assert!(htpasswd("").is_err());
    }
}
