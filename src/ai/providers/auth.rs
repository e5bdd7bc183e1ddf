//! Credentials on a provider request: the one place an [`AiAuth`] becomes headers. The form a
//! configured key takes (bearer token or the provider's own header) was decided at translation
//! from the catalog; SigV4 is applied last, once the request is complete (`super::call`).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::super::AiPipeline;
use crate::ai::errors::AiError;
use crate::ir::ai::{AiAuth, KeyPlace};

/// Where clients put a provider key besides a bearer token (Anthropic's, Google's, Azure's).
const CLIENT_KEY_HEADERS: [&str; 3] = ["x-api-key", "x-goog-api-key", "api-key"];

/// Adds the provider's credentials to `out`; a Vertex token is minted (or taken from the
/// pipeline's cache) here.
pub async fn apply(pipe: &AiPipeline, auth: &AiAuth, client: &HeaderMap, out: &mut HeaderMap) -> Result<(), AiError> {
    match auth {
        AiAuth::None | AiAuth::AwsSigV4(_) => {}
        AiAuth::Bearer(v) => {
            out.insert(http::header::AUTHORIZATION, v.clone());
        }
        AiAuth::Header(name, v) => {
            out.insert(name.clone(), v.clone());
        }
        AiAuth::GcpServiceAccount(sa) => {
            out.insert(http::header::AUTHORIZATION, pipe.tokens.authorization(&pipe.pools, sa).await?);
        }
        AiAuth::Passthrough(place) => {
            if let Some((name, value)) = passthrough(place, client) {
                out.insert(name, value);
            }
        }
    }
    Ok(())
}

/// The client's key in the place the provider takes it: the provider's own header as sent;
/// else `Authorization` as sent, where the provider takes bearer tokens; else the key from a
/// bearer token or another provider's header, moved to the provider's place.
fn passthrough(place: &KeyPlace, client: &HeaderMap) -> Option<(HeaderName, HeaderValue)> {
    if let Some(own) = &place.header
        && let Some(v) = client.get(own)
    {
        return Some((own.clone(), v.clone()));
    }
    if (place.header.is_none() || place.bearer_too)
        && let Some(v) = client.get(http::header::AUTHORIZATION)
    {
        return Some((http::header::AUTHORIZATION, v.clone()));
    }
    let bearer = client
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer ")));
    let key = bearer
        .or_else(|| CLIENT_KEY_HEADERS.iter().find_map(|h| client.get(*h).and_then(|v| v.to_str().ok())))
        .map(str::trim)
        .filter(|k| !k.is_empty())?;
    match &place.header {
        None => Some((http::header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {key}")).ok()?)),
        Some(h) => Some((h.clone(), HeaderValue::from_str(key).ok()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_key_goes_where_the_provider_takes_it() {
        let bearer = KeyPlace::default();
        let anthropic = KeyPlace { header: Some(HeaderName::from_static("x-api-key")), bearer_too: false };
        let azure = KeyPlace { header: Some(HeaderName::from_static("api-key")), bearer_too: true };
        // (the client's headers, where the provider takes keys, what is sent)
        type Case<'a> = (&'a [(&'static str, &'static str)], &'a KeyPlace, Option<(&'static str, &'static str)>);
        let cases: [Case; 8] = [
            (&[("authorization", "Bearer sk-1")], &bearer, Some(("authorization", "Bearer sk-1"))),
            (&[("x-api-key", "sk-2")], &bearer, Some(("authorization", "Bearer sk-2"))),
            (&[("authorization", "Bearer sk-3")], &anthropic, Some(("x-api-key", "sk-3"))),
            (&[("authorization", "Bearer b"), ("x-api-key", "own")], &anthropic, Some(("x-api-key", "own"))),
            (&[("x-goog-api-key", "g-4")], &anthropic, Some(("x-api-key", "g-4"))),
            (&[("authorization", "Bearer entra-token")], &azure, Some(("authorization", "Bearer entra-token"))),
            (&[("x-api-key", "k")], &azure, Some(("api-key", "k"))),
            (&[("x-other", "nope")], &bearer, None),
        ];
        for (headers, place, want) in cases {
            let mut client = HeaderMap::new();
            for (n, v) in headers {
                client.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
            }
            let got = passthrough(place, &client);
            let got = got.as_ref().map(|(n, v)| (n.as_str(), v.to_str().unwrap_or_default()));
            assert_eq!(got, want, "{headers:?}");
        }
    }
}
