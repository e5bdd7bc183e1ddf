//! Azure OpenAI through the v1 API of a resource (`https://{resource}.openai.azure.com/openai/v1`):
//! OpenAI's paths and bodies, the deployment name as the model, the key in `api-key`, and an
//! `api-version` query only when the backend sets one (the v1 API needs none; `preview` opts
//! into preview features).

use http::HeaderMap;
use serde_json::Value;

use super::openai::{self, OpenAi};
use super::{Embeddings, Provider};
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ir::ai::AiProviderIr;

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

/// Azure OpenAI: OpenAI's bodies and streams at Azure's paths, for the deployment.
pub struct AzureOpenAi;

impl Provider for AzureOpenAi {
    fn model(&self, p: &AiProviderIr, requested: String) -> String {
        model(p, &requested)
    }

    fn same_format(&self, format: ClientFormat, model: &str) -> bool {
        OpenAi.same_format(format, model)
    }

    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        same: bool,
    ) -> Result<(String, bytes::Bytes), AiError> {
        let path = path(p, p.chat_path.as_deref().unwrap_or(openai::CHAT_PATH));
        Ok((path, openai::chat_body(chat, model, same)))
    }

    fn stream_decoder(&self, model: &str, headers: &HeaderMap) -> Decode {
        OpenAi.stream_decoder(model, headers)
    }

    fn parse_response(&self, model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        OpenAi.parse_response(model, json)
    }

    fn error_message(&self, json: &Value, headers: &HeaderMap) -> Option<String> {
        OpenAi.error_message(json, headers)
    }

    fn error_format(&self) -> Option<ClientFormat> {
        Some(ClientFormat::OpenAi)
    }

    fn embeddings(&self, p: &AiProviderIr, target: &str) -> Embeddings {
        Embeddings::OpenAi { model: model(p, target), path: path(p, openai::EMBEDDINGS_PATH) }
    }
}
