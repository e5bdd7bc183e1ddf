//! Authentication: the credentials a request presents, checked by the methods its policy
//! configures, give one identity. A bearer token shaped like a JWT goes to the JWT providers,
//! any other key to the virtual keys; `Basic` credentials to the htpasswd users; an external
//! service, when configured, is asked last (and may name the identity itself). Credentials
//! Sluice checked are removed before the request goes upstream (a JWT stays when its provider
//! says `forward`).

pub mod api_keys;
pub mod basic;
pub mod external;
pub mod jwt;

use std::sync::Arc;

use http::HeaderMap;
use http::request::Parts;

use super::identity::Identity;
use super::{Denial, PolicyLayer};
use crate::ir::policy::AuthnIr;

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then_some(token)
}

/// The `WWW-Authenticate` challenge of a policy (`error`: RFC 6750's, for a refused token).
fn challenge(a: &AuthnIr, error: Option<&str>) -> String {
    if let Some(b) = &a.basic
        && a.api_keys.is_none()
        && a.jwt.is_none()
    {
        return format!("Basic realm=\"{}\"", b.realm);
    }
    match error {
        Some(e) => format!("Bearer realm=\"sluice\", error=\"{e}\""),
        None => "Bearer realm=\"sluice\"".to_string(),
    }
}

pub async fn authenticate(layer: &PolicyLayer, a: &Arc<AuthnIr>, parts: &mut Parts) -> Result<Identity, Denial> {
    let refuse = |why: String| Denial::unauthenticated(challenge(a, Some("invalid_token")), why);
    let mut identity: Option<Identity> = None;
    if let Some(jwt) = &a.jwt
        && let Some(token) = bearer(&parts.headers).filter(|t| jwt::looks_like_jwt(t) || a.api_keys.is_none())
    {
        let token = token.to_string();
        let (id, forward) = jwt::verify(jwt, &layer.jwks, &token).await.map_err(refuse)?;
        if !forward {
            parts.headers.remove(http::header::AUTHORIZATION);
        }
        identity = Some(id);
    }
    if identity.is_none()
        && let Some(keys) = &a.api_keys
        && let Some(key) = api_keys::presented(keys, &parts.headers)
            .map(|(k, _)| k.to_string())
            .or_else(|| api_keys::from_query(parts.uri.query()))
    {
        match api_keys::check(keys, &key) {
            api_keys::Outcome::Accepted(id) => identity = Some(id),
            api_keys::Outcome::Unknown => return Err(refuse("the API key is not valid".into())),
            api_keys::Outcome::Expired(name) => return Err(refuse(format!("the API key {name:?} has expired"))),
        }
        // A virtual key is Sluice's: it never goes upstream, wherever it was sent.
        for h in [
            http::header::AUTHORIZATION,
            http::HeaderName::from_static("x-api-key"),
            http::HeaderName::from_static("x-goog-api-key"),
        ]
        .into_iter()
        .chain(keys.headers.iter().cloned())
        {
            parts.headers.remove(h);
        }
        if let Some(uri) = api_keys::without_query_key(&parts.uri) {
            parts.uri = uri;
        }
    }
    if identity.is_none()
        && a.basic.is_some()
        && let Some(creds) = basic::presented(&parts.headers)
    {
        let (user, password) = creds.map_err(|m| refuse(m.to_string()))?;
        // bcrypt is slow on purpose: off the async threads.
        let policy = a.clone();
        let checked =
            tokio::task::spawn_blocking(move || policy.basic.as_ref().and_then(|b| basic::check(b, &user, &password)))
                .await
                .ok()
                .flatten();
        identity = Some(checked.ok_or_else(|| refuse("the user name or password is not valid".into()))?);
        parts.headers.remove(http::header::AUTHORIZATION);
    }
    if let Some(e) = &a.external {
        // Boxed: a call's state is large, and requests without external auth need not carry it.
        let (add, named) = Box::pin(external::check(e, parts)).await?;
        for (name, value) in &add {
            parts.headers.append(name.clone(), value.clone());
        }
        if identity.is_none() {
            identity = Some(named.unwrap_or(Identity { method: "external", ..Identity::default() }));
        }
    }
    match identity {
        Some(id) => Ok(id),
        None if a.optional => Ok(Identity::anonymous()),
        None => Err(Denial::unauthenticated(challenge(a, None), "credentials are required".into())),
    }
}
