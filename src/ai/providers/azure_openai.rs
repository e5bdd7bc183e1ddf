//! Azure OpenAI through the v1 API of a resource (`https://{resource}.openai.azure.com/openai/v1`):
//! OpenAI's paths and bodies, the deployment name as the model, the key in `api-key`, and an
//! `api-version` query only when the backend sets one (the v1 API needs none; `preview` opts
//! into preview features).

use http::{HeaderMap, HeaderName};

use crate::ir::ai::{AiAuth, AiProviderIr};

pub const KEY_HEADER: &str = "api-key";

/// `path` with the backend's `api-version`, if any.
pub fn path(p: &AiProviderIr, path: &str) -> String {
    match &p.api_version {
        Some(v) => format!("{path}{}api-version={v}", if path.contains('?') { '&' } else { '?' }),
        None => path.to_string(),
    }
}

/// The model sent upstream: the configured deployment, else the requested model (which, in the
/// v1 API, names a deployment).
pub fn model(p: &AiProviderIr, requested: &str) -> String {
    p.deployment.clone().unwrap_or_else(|| requested.to_string())
}

/// Credentials: the configured key in `api-key`; with passthrough, the client's `api-key`, or
/// else its `Authorization` (the v1 API takes a key or an Entra ID token as a bearer token), or
/// else its `x-api-key`.
pub fn auth_headers(auth: &AiAuth, client: &HeaderMap, out: &mut HeaderMap) {
    match auth {
        // Signing and minted tokens belong to Bedrock and Vertex, never configured here.
        AiAuth::None | AiAuth::AwsSigV4(_) | AiAuth::GcpServiceAccount(_) => {}
        AiAuth::Bearer(v) => {
            out.insert(http::header::AUTHORIZATION, v.clone());
        }
        AiAuth::Header(name, v) => {
            out.insert(name.clone(), v.clone());
        }
        AiAuth::Passthrough => {
            let key_header = HeaderName::from_static(KEY_HEADER);
            if let Some(v) = client.get(&key_header) {
                out.insert(key_header, v.clone());
            } else if let Some(v) = client.get(http::header::AUTHORIZATION) {
                out.insert(http::header::AUTHORIZATION, v.clone());
            } else if let Some(v) = client.get("x-api-key") {
                out.insert(key_header, v.clone());
            }
        }
    }
}
