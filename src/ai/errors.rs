//! Errors of the AI path, rendered in the client's own format (OpenAI, Anthropic or Google JSON), with
//! who failed and whether another provider may be tried.

use std::time::Duration;

use http::{HeaderValue, Response, StatusCode};

use super::frontdoor::ClientFormat;
use crate::httpkit::body::{self, ProxyBody};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    TooLarge,
    RateLimit,
    /// The provider failed (5xx) or could not be reached.
    Upstream,
    Overloaded,
    Timeout,
    Internal,
}

#[derive(Debug, Clone)]
pub struct AiError {
    pub kind: ErrorKind,
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault, if any.
    pub param: Option<String>,
    /// Another provider may succeed where this one failed.
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    /// The provider's own error body and its format: a client of the same format gets it
    /// untouched (unknown fields and codes included).
    pub provider_body: Option<(ClientFormat, serde_json::Value)>,
    /// Headers of the answer (a rate limit's).
    pub headers: Option<Box<http::HeaderMap>>,
}

impl AiError {
    pub fn new(kind: ErrorKind, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
            param: None,
            retryable: false,
            retry_after: None,
            provider_body: None,
            headers: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self { param: Some(param.to_string()), ..Self::invalid(message) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, StatusCode::NOT_FOUND, message)
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self { retryable: true, ..Self::new(ErrorKind::Upstream, StatusCode::BAD_GATEWAY, message) }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error a provider answered with its own status code.
    pub fn from_provider(status: StatusCode, message: String, retry_after: Option<Duration>) -> Self {
        let kind = match status.as_u16() {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::TooLarge,
            429 => ErrorKind::RateLimit,
            529 => ErrorKind::Overloaded,
            408 | 504 => ErrorKind::Timeout,
            _ => ErrorKind::Upstream,
        };
        let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 529;
        Self { kind, status, message, param: None, retryable, retry_after, provider_body: None, headers: None }
    }

    fn openai_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::TooLarge => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Upstream | ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::Internal => "api_error",
        }
    }

    fn openai_code(&self) -> Option<&'static str> {
        match self.kind {
            ErrorKind::NotFound => Some("model_not_found"),
            ErrorKind::TooLarge => Some("request_too_large"),
            ErrorKind::RateLimit => Some("rate_limit_exceeded"),
            _ => None,
        }
    }

    fn anthropic_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::TooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Upstream | ErrorKind::Internal => "api_error",
        }
    }

    /// Google's canonical status name (`google.rpc.Code`) for the error.
    fn google_status(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest | ErrorKind::TooLarge => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::Permission => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
            ErrorKind::Overloaded | ErrorKind::Upstream => "UNAVAILABLE",
            ErrorKind::Timeout => "DEADLINE_EXCEEDED",
            ErrorKind::Internal => "INTERNAL",
        }
    }

    /// The error body in the client's format.
    pub fn body(&self, format: ClientFormat) -> serde_json::Value {
        match format.error_format() {
            ClientFormat::OpenAi | ClientFormat::Responses => serde_json::json!({
                "error": {
                    "message": self.message,
                    "type": self.openai_type(),
                    "param": self.param,
                    "code": self.openai_code(),
                }
            }),
            ClientFormat::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": self.anthropic_type(), "message": self.message},
            }),
            // Google says when to come back in a RetryInfo detail, as well as in the header.
            ClientFormat::Gemini => {
                let mut e = serde_json::json!({
                    "code": self.status.as_u16(),
                    "message": self.message,
                    "status": self.google_status(),
                });
                if let Some(d) = self.retry_after {
                    e["details"] = serde_json::json!([{
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": format!("{}s", d.as_secs_f64().ceil().max(1.0)),
                    }]);
                }
                serde_json::json!({ "error": e })
            }
        }
    }

    /// A request the policy layer refused.
    pub fn from_denial(d: &crate::policy::Denial) -> Self {
        let kind = match d.status.as_u16() {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            429 => ErrorKind::RateLimit,
            _ => ErrorKind::Upstream,
        };
        Self { retry_after: d.retry_after, ..Self::new(kind, d.status, d.message.clone()) }
    }

    pub fn into_response(self, format: ClientFormat) -> Response<ProxyBody> {
        let body = match &self.provider_body {
            Some((f, raw)) if *f == format.error_format() => raw.to_string(),
            _ => self.body(format).to_string(),
        };
        let mut resp = Response::new(body::full(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(d) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&d.as_secs_f64().ceil().max(1.0).to_string())
        {
            h.insert(http::header::RETRY_AFTER, v);
        }
        for (name, value) in self.headers.iter().flat_map(|m| m.iter()) {
            h.insert(name.clone(), value.clone());
        }
        resp
    }
}

impl std::fmt::Display for AiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}): {}", self.status, self.kind, self.message)
    }
}
