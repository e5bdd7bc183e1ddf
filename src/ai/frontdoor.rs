//! The front doors: which API a request speaks, decided by method and path.

use http::Method;

/// The error and response format of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    OpenAi,
    Anthropic,
    /// The OpenAI Responses API: OpenAI's error format, its own response and stream shapes.
    Responses,
}

impl ClientFormat {
    /// The format of the client's error bodies (the Responses API shares OpenAI's).
    pub fn error_format(self) -> ClientFormat {
        match self {
            ClientFormat::OpenAi | ClientFormat::Responses => ClientFormat::OpenAi,
            ClientFormat::Anthropic => ClientFormat::Anthropic,
        }
    }
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
    /// Any other path: forwarded to the provider unchanged, with its auth applied.
    Passthrough,
}

impl FrontDoor {
    pub fn detect(method: &Method, path: &str) -> FrontDoor {
        let path = path.trim_end_matches('/');
        let is = |suffix: &str| path.ends_with(suffix);
        match *method {
            Method::POST if is("/chat/completions") => FrontDoor::ChatCompletions,
            Method::POST if is("/responses") => FrontDoor::Responses,
            Method::POST if is("/embeddings") => FrontDoor::Embeddings,
            Method::POST if is("/messages/count_tokens") => FrontDoor::CountTokens,
            Method::POST if is("/messages") => FrontDoor::Messages,
            Method::GET if is("/models") => FrontDoor::Models,
            _ => FrontDoor::Passthrough,
        }
    }

    pub fn client_format(self) -> ClientFormat {
        match self {
            FrontDoor::Messages | FrontDoor::CountTokens => ClientFormat::Anthropic,
            FrontDoor::Responses => ClientFormat::Responses,
            FrontDoor::ChatCompletions | FrontDoor::Embeddings | FrontDoor::Models | FrontDoor::Passthrough => {
                ClientFormat::OpenAi
            }
        }
    }
}
