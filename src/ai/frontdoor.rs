//! The front doors: which API a request speaks, decided by method and path (and, for the one
//! path two APIs share, by the client's headers).

use http::request::Parts;
use http::{HeaderMap, Method};

/// The error and response format of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    OpenAi,
    Anthropic,
    /// The OpenAI Responses API: OpenAI's error format, its own response and stream shapes.
    Responses,
    /// Google's Gemini API (`generateContent`): Google's error format.
    Gemini,
}

impl ClientFormat {
    /// The format of the client's error bodies (the Responses API shares OpenAI's).
    pub fn error_format(self) -> ClientFormat {
        match self {
            ClientFormat::OpenAi | ClientFormat::Responses => ClientFormat::OpenAi,
            ClientFormat::Anthropic => ClientFormat::Anthropic,
            ClientFormat::Gemini => ClientFormat::Gemini,
        }
    }
}

/// A Gemini method on a model (`…/models/{model}:{method}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiMethod {
    Generate,
    /// `streamGenerateContent`; `sse`: asked with `alt=sse` (else the API streams a JSON array).
    Stream {
        sse: bool,
    },
    CountTokens,
    Embed,
    BatchEmbed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/responses`
    Responses,
    /// `POST /v1/embeddings`
    Embeddings,
    /// `GET /v1/models`
    Models,
    /// `POST /v1/messages`
    Messages,
    /// `POST /v1/messages/count_tokens`
    CountTokens,
    /// `POST /v1beta/models/{model}:{method}`
    Gemini(GeminiMethod),
    /// `GET /v1beta/models` (a Gemini client's listing)
    GeminiModels,
    /// `GET /v1beta/models/{model}`
    GeminiModel,
    /// `GET …/responses/{id}`
    ResponseGet,
    /// `DELETE …/responses/{id}`
    ResponseDelete,
    /// `GET …/responses/{id}/input_items`
    ResponseInputItems,
    /// Any other path: forwarded to the provider unchanged, with its auth applied.
    Passthrough,
}

impl FrontDoor {
    /// The front door of a request.
    pub fn of(parts: &Parts) -> FrontDoor {
        Self::detect(&parts.method, parts.uri.path(), parts.uri.query(), &parts.headers)
    }

    pub fn detect(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> FrontDoor {
        let path = path.trim_end_matches('/');
        let is = |suffix: &str| path.ends_with(suffix);
        if let Some((_, verb)) = gemini_target(path) {
            let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
            let m = match verb {
                "generateContent" => GeminiMethod::Generate,
                "streamGenerateContent" => GeminiMethod::Stream { sse },
                "countTokens" => GeminiMethod::CountTokens,
                "embedContent" => GeminiMethod::Embed,
                "batchEmbedContents" => GeminiMethod::BatchEmbed,
                _ => return FrontDoor::Passthrough,
            };
            return match *method {
                Method::POST => FrontDoor::Gemini(m),
                _ => FrontDoor::Passthrough,
            };
        }
        match *method {
            Method::POST if is("/chat/completions") => FrontDoor::ChatCompletions,
            Method::POST if is("/responses") => FrontDoor::Responses,
            Method::POST if is("/embeddings") => FrontDoor::Embeddings,
            Method::POST if is("/messages/count_tokens") => FrontDoor::CountTokens,
            Method::POST if is("/messages") => FrontDoor::Messages,
            Method::GET if is("/input_items") && super::stored::id_of(path).is_some() => FrontDoor::ResponseInputItems,
            Method::GET if super::stored::id_of(path).is_some() => FrontDoor::ResponseGet,
            Method::DELETE if super::stored::id_of(path).is_some() && !is("/input_items") => FrontDoor::ResponseDelete,
            Method::GET if is("/models") && speaks_gemini(path, query, headers) => FrontDoor::GeminiModels,
            Method::GET if is("/models") => FrontDoor::Models,
            Method::GET if gemini_model(path).is_some() && speaks_gemini(path, query, headers) => {
                FrontDoor::GeminiModel
            }
            _ => FrontDoor::Passthrough,
        }
    }

    /// The format a client of this request reads (its errors' too): the front door's, and for
    /// other paths what the client shows of itself (Anthropic's version header, a Gemini path).
    pub fn format_of(self, parts: &Parts) -> ClientFormat {
        match self {
            FrontDoor::Passthrough if parts.headers.contains_key("anthropic-version") => ClientFormat::Anthropic,
            FrontDoor::Passthrough if gemini_target(parts.uri.path()).is_some() => ClientFormat::Gemini,
            door => door.client_format(),
        }
    }

    pub fn client_format(self) -> ClientFormat {
        match self {
            FrontDoor::Messages | FrontDoor::CountTokens => ClientFormat::Anthropic,
            FrontDoor::Responses
            | FrontDoor::ResponseGet
            | FrontDoor::ResponseDelete
            | FrontDoor::ResponseInputItems => ClientFormat::Responses,
            FrontDoor::Gemini(_) | FrontDoor::GeminiModels | FrontDoor::GeminiModel => ClientFormat::Gemini,
            FrontDoor::ChatCompletions | FrontDoor::Embeddings | FrontDoor::Models | FrontDoor::Passthrough => {
                ClientFormat::OpenAi
            }
        }
    }
}

/// `(model, method)` of a Gemini path `…/models/{model}:{method}`.
pub fn gemini_target(path: &str) -> Option<(&str, &str)> {
    let (_, rest) = path.rsplit_once("/models/")?;
    let (model, verb) = rest.rsplit_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some((model, verb))
}

/// The model of `GET …/models/{model}`.
pub fn gemini_model(path: &str) -> Option<&str> {
    let (_, model) = path.trim_end_matches('/').rsplit_once("/models/")?;
    (!model.is_empty() && !model.contains(['/', ':'])).then_some(model)
}

/// Whether a `GET …/models` comes from a Gemini client rather than an OpenAI one (both APIs
/// list models at that path): Google's version segment, Google's key parameter, or Google's
/// client headers say so.
fn speaks_gemini(path: &str, query: Option<&str>, headers: &HeaderMap) -> bool {
    path.split('/').any(|s| s.starts_with("v1beta") || s.starts_with("v1alpha"))
        || query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")))
        || headers.contains_key("x-goog-api-key")
        || headers.contains_key("x-goog-api-client")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(method: Method, path_and_query: &str, headers: &[(&'static str, &'static str)]) -> FrontDoor {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        FrontDoor::detect(&method, path, query, &h)
    }

    #[test]
    fn gemini_paths_are_told_apart() {
        use GeminiMethod::*;
        let p = "/v1beta/models/gemini-2.5-flash";
        assert_eq!(door(Method::POST, &format!("{p}:generateContent"), &[]), FrontDoor::Gemini(Generate));
        assert_eq!(
            door(Method::POST, &format!("{p}:streamGenerateContent?alt=sse"), &[]),
            FrontDoor::Gemini(Stream { sse: true })
        );
        assert_eq!(
            door(Method::POST, &format!("{p}:streamGenerateContent"), &[]),
            FrontDoor::Gemini(Stream { sse: false })
        );
        assert_eq!(door(Method::POST, &format!("{p}:countTokens"), &[]), FrontDoor::Gemini(CountTokens));
        assert_eq!(door(Method::POST, &format!("{p}:embedContent"), &[]), FrontDoor::Gemini(Embed));
        assert_eq!(door(Method::POST, &format!("{p}:batchEmbedContents"), &[]), FrontDoor::Gemini(BatchEmbed));
        assert_eq!(door(Method::POST, &format!("{p}:predict"), &[]), FrontDoor::Passthrough);
        assert_eq!(door(Method::GET, &format!("{p}:generateContent"), &[]), FrontDoor::Passthrough);
        assert_eq!(gemini_target("/v1beta/models/g-1:generateContent"), Some(("g-1", "generateContent")));
    }

    #[test]
    fn the_shared_models_path_is_read_by_who_asks() {
        assert_eq!(door(Method::GET, "/v1/models", &[]), FrontDoor::Models);
        assert_eq!(door(Method::GET, "/v1beta/models", &[]), FrontDoor::GeminiModels);
        assert_eq!(door(Method::GET, "/v1/models?key=k", &[]), FrontDoor::GeminiModels);
        assert_eq!(door(Method::GET, "/v1/models", &[("x-goog-api-client", "genai-js")]), FrontDoor::GeminiModels);
        assert_eq!(door(Method::GET, "/v1beta/models/gemini-2.5-pro", &[]), FrontDoor::GeminiModel);
        assert_eq!(door(Method::GET, "/v1/models/gpt-4o", &[]), FrontDoor::Passthrough);
        assert_eq!(door(Method::POST, "/v1/chat/completions", &[]), FrontDoor::ChatCompletions);
        assert_eq!(door(Method::POST, "/v1/messages", &[]), FrontDoor::Messages);
    }
}
