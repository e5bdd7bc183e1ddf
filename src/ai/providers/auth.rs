//! Credentials on a provider request: the one place an [`AiAuth`] becomes headers. The form a
//! configured key takes (bearer token or the provider's own header) was decided at translation
//! from the catalog; SigV4 is applied last, once the request is complete (`super::call`).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::super::AiPipeline;
use crate::ai::errors::AiError;
use crate::ir::ai::AiAuth;

/// Where clients put a provider key: the bearer token first, then the providers' own headers.
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
            if let Some((name, value)) = client_key(client).and_then(|key| placed(place.as_ref(), key)) {
                out.insert(name, value);
            }
        }
    }
    Ok(())
}

/// The key the client sent, wherever it sent it.
fn client_key(client: &HeaderMap) -> Option<&str> {
    let bearer = client
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer ")));
    bearer
        .or_else(|| CLIENT_KEY_HEADERS.iter().find_map(|h| client.get(*h).and_then(|v| v.to_str().ok())))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// A key in the place the provider takes it.
fn placed(place: Option<&HeaderName>, key: &str) -> Option<(HeaderName, HeaderValue)> {
    match place {
        None => Some((http::header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {key}")).ok()?)),
        Some(h) => Some((h.clone(), HeaderValue::from_str(key).ok()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_key_goes_where_the_provider_takes_it() {
        let anthropic = Some(HeaderName::from_static("x-api-key"));
        // (the client's header, its value, where the provider takes keys, what is sent)
        type Case = (&'static str, &'static str, Option<HeaderName>, Option<(&'static str, &'static str)>);
        let cases: [Case; 6] = [
            ("authorization", "Bearer sk-1", None, Some(("authorization", "Bearer sk-1"))),
            ("x-api-key", "sk-2", None, Some(("authorization", "Bearer sk-2"))),
            ("authorization", "Bearer sk-3", anthropic.clone(), Some(("x-api-key", "sk-3"))),
            ("x-goog-api-key", "g-4", anthropic.clone(), Some(("x-api-key", "g-4"))),
            ("authorization", "Basic dXNlcg==", anthropic, None),
            ("x-other", "nope", None, None),
        ];
        for (header, value, place, want) in cases {
            let mut client = HeaderMap::new();
            client.insert(HeaderName::from_static(header), HeaderValue::from_static(value));
            let got = client_key(&client).and_then(|k| placed(place.as_ref(), k));
            let got = got.as_ref().map(|(n, v)| (n.as_str(), v.to_str().unwrap_or_default()));
            assert_eq!(got, want, "{header}: {value}");
        }
    }
}
