//! AWS Bedrock Runtime: `Converse` and `ConverseStream` paths, SigV4 request signing and error
//! bodies.
//!
//! The model id goes in the path (`/model/{modelId}/converse`), percent-encoded: ids hold `:`
//! (`anthropic.claude-sonnet-4-5-20250929-v1:0`) and ARNs hold `/`. Requests are signed with
//! SigV4 for the service `bedrock` in the configured region, or carry a Bedrock API key as a
//! bearer token. Errors are `{"message": …}` with the error type in `x-amzn-ErrorType`.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::Provider;
use crate::ai::canonical::ChatResponse;
use crate::ai::chat::ParsedChat;
use crate::ai::errors::AiError;
use crate::ai::frontdoor::ClientFormat;
use crate::ai::stream::Decode;
use crate::ai::wire::{bedrock, bedrock_stream};
use crate::ir::ai::AiProviderIr;
pub use crate::ir::creds::AwsKeys;

pub const CONVERSE_PATH: &str = "/model/{model}/converse";
pub const CONVERSE_STREAM_PATH: &str = "/model/{model}/converse-stream";
/// The SigV4 service name of the Bedrock Runtime endpoints.
pub const SERVICE: &str = "bedrock";
pub const EVENT_STREAM_TYPE: &str = "application/vnd.amazon.eventstream";

/// The path for `model` (a template with `{model}`, or the default).
pub fn path(template: Option<&str>, model: &str, stream: bool) -> String {
    let template = match (template, stream) {
        (Some(t), _) => t,
        (None, false) => CONVERSE_PATH,
        (None, true) => CONVERSE_STREAM_PATH,
    };
    template.replace("{model}", &super::path_segment(model, b""))
}

/// Signs a request: adds `x-amz-date`, `authorization` and, with temporary credentials,
/// `x-amz-security-token` to `headers`. `url` is the full URL as sent; `headers` must already
/// hold every header to be signed (`host` included).
pub fn sign_request(
    keys: &Arc<AwsKeys>,
    method: &str,
    url: &str,
    headers: &mut HeaderMap,
    body: &[u8],
) -> Result<(), AiError> {
    sign_at(keys, SERVICE, SystemTime::now(), method, url, headers, body)
}

fn sign_at(
    keys: &AwsKeys,
    service: &str,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &mut HeaderMap,
    body: &[u8],
) -> Result<(), AiError> {
    let fail = |e: &dyn std::fmt::Display| AiError::internal(format!("SigV4 signing failed: {e}"));
    let params = v4::SigningParams::builder()
        .identity(&keys.identity)
        .region(&keys.region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let pairs: Vec<(&str, &str)> =
        headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))).collect();
    let signable =
        SignableRequest::new(method, url, pairs.into_iter(), SignableBody::Bytes(body)).map_err(|e| fail(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    for (name, value) in instructions.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| fail(&e))?;
        headers.insert(name, value);
    }
    Ok(())
}

/// `Type: message` from a Bedrock error body and its `x-amzn-ErrorType` header.
pub fn error_message(body: &Value, headers: &HeaderMap) -> Option<String> {
    let message = body.get("message").or_else(|| body.get("Message")).and_then(Value::as_str)?;
    let ty = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(':').next())
        .filter(|t| !t.is_empty());
    Some(match ty {
        Some(t) => format!("{t}: {message}"),
        None => message.to_string(),
    })
}

/// AWS Bedrock Runtime (`Converse`, `ConverseStream`).
pub struct Bedrock;

impl Provider for Bedrock {
    fn headers(&self, _format: ClientFormat, _client: &HeaderMap, path: &str, out: &mut HeaderMap) {
        let accept = if path.ends_with("/converse-stream") { EVENT_STREAM_TYPE } else { "application/json" };
        out.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
    }

    fn same_format(&self, _format: ClientFormat, _model: &str) -> bool {
        false
    }

    fn chat_request(
        &self,
        p: &AiProviderIr,
        chat: &ParsedChat,
        model: &str,
        _same: bool,
    ) -> Result<(String, bytes::Bytes), AiError> {
        let stream = chat.req.stream;
        let template = p.path_template(stream);
        Ok((path(template, model, stream), super::json_bytes(&bedrock::build_request(&chat.req, model)?)))
    }

    fn stream_decoder(&self, _model: &str, headers: &HeaderMap) -> Decode {
        Decode::Bedrock(bedrock_stream::Decoder::new(request_id(headers)))
    }

    fn parse_response(&self, _model: &str, json: &Value) -> Result<ChatResponse, AiError> {
        bedrock::parse_response(json)
    }

    fn error_message(&self, json: &Value, headers: &HeaderMap) -> Option<String> {
        error_message(json, headers)
    }
}

/// Bedrock's request id, the only id its answers have.
pub fn request_id(headers: &HeaderMap) -> String {
    headers.get("x-amzn-requestid").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_encoded_into_one_segment() {
        assert_eq!(
            path(None, "anthropic.claude-3-5-sonnet-20240620-v1:0", false),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            path(None, "arn:aws:bedrock:us-east-1:1:inference-profile/x", true),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse-stream"
        );
    }

    /// The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30), through
    /// our own signing function: the documented signature comes out in `Authorization`.
    #[test]
    fn signing_matches_the_documented_example() {
        let keys = AwsKeys::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, "us-east-1");
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 20150830T123600Z
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"));
        headers.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
        let url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08";
        sign_at(&keys, "iam", time, "GET", url, &mut headers, b"").expect("sign");
        assert_eq!(headers.get("x-amz-date").and_then(|v| v.to_str().ok()), Some("20150830T123600Z"));
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
