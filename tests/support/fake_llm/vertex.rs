//! A fake Google Vertex AI, with the Google OAuth token endpoint beside it, written from
//! Google's published references:
//!
//! - `POST /token`: the OAuth 2.0 JWT-bearer grant (RFC 7523) as Google's token endpoint takes
//!   it for service accounts. The assertion must be an RS256 JWT signed by the service
//!   account's key (checked against its public key), with `iss` = the account, `aud` = the
//!   token URI, the cloud-platform `scope`, and `iat`/`exp` at most an hour apart around now.
//!   Answers `{"access_token", "expires_in", "token_type": "Bearer"}`; a bad assertion gets 400
//!   `{"error": "invalid_grant", "error_description": …}`. Every mint is counted.
//! - `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{generateContent|streamGenerateContent}`:
//!   Gemini's API, answered by the fake Gemini.
//! - `POST …/publishers/anthropic/models/{model}:{rawPredict|streamRawPredict}`: Anthropic's
//!   Messages API, answered by the fake Anthropic, after the checks Vertex makes: the body has
//!   `"anthropic_version": "vertex-2023-10-16"` and no `model` (it is in the path), and the
//!   streaming method goes with `"stream": true`.
//! - Both need `Authorization: Bearer <a token this fake minted>`; otherwise 401
//!   `UNAUTHENTICATED` in Google's error shape.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use super::anthropic::{self, FakeAnthropic};
use super::gemini::{self, FakeGemini};
use super::{Outcome, RecordedRequest, Server, json_response};

pub const PROJECT: &str = "sluice-test";
pub const LOCATION: &str = "us-east5";
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const CLIENT_EMAIL: &str = "sluice-test@sluice-test.iam.gserviceaccount.com";

/// The service-account key file of the tests, its `token_uri` pointing at `port`.
pub fn key_file(port: u16) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vertex/test-service-account.json");
    std::fs::read_to_string(path).expect("read the test service-account key").replace("{PORT}", &port.to_string())
}

fn public_key() -> Vec<u8> {
    let file: Value = serde_json::from_str(&key_file(0)).expect("key file JSON");
    let pem = file["private_key"].as_str().expect("private_key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(b64).expect("PEM base64");
    RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key").public_key().as_ref().to_vec()
}

struct State {
    gemini: FakeGemini,
    anthropic: FakeAnthropic,
    public_key: Vec<u8>,
    token_uri: Mutex<String>,
    expires_in: u64,
    tokens: Mutex<HashSet<String>>,
    mints: AtomicU64,
}

/// A running fake Vertex AI and token endpoint. Clones share it.
#[derive(Clone)]
pub struct FakeVertex {
    server: Arc<Server>,
    state: Arc<State>,
}

impl FakeVertex {
    /// `expires_in`: the lifetime of the tokens it mints, in seconds.
    pub async fn start(gemini: gemini::Script, anthropic: anthropic::Script, expires_in: u64) -> FakeVertex {
        let state = Arc::new(State {
            gemini: FakeGemini::start(gemini).await,
            anthropic: FakeAnthropic::start(anthropic).await,
            public_key: public_key(),
            token_uri: Mutex::new(String::new()),
            expires_in,
            tokens: Mutex::new(HashSet::new()),
            mints: AtomicU64::new(0),
        });
        let handler_state = state.clone();
        let server = Server::start(Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        }))
        .await;
        *state.token_uri.lock().unwrap_or_else(PoisonError::into_inner) =
            format!("http://127.0.0.1:{}/token", server.addr.port());
        FakeVertex { server: Arc::new(server), state }
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// Every request, token requests included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// The model requests (not the token requests).
    pub fn model_requests(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.path_only() != "/token").collect()
    }

    /// Tokens minted so far.
    pub fn mints(&self) -> u64 {
        self.state.mints.load(Ordering::Relaxed)
    }
}

fn google_error(code: u16, status: &str, message: &str) -> Outcome {
    Outcome::Respond(json_response(code, &[], &json!({"error": {"code": code, "message": message, "status": status}})))
}

async fn handle(state: &State, req: RecordedRequest) -> Outcome {
    if req.path_only() == "/token" {
        return token(state, &req);
    }
    let bearer = req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    if !state.tokens.lock().unwrap_or_else(PoisonError::into_inner).contains(bearer) {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let prefix = format!("/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/");
    let Some((publisher, rest)) = req.path_only().strip_prefix(&prefix).and_then(|r| r.split_once("/models/")) else {
        return google_error(
            404,
            "NOT_FOUND",
            &format!("The requested URL {} was not found on this server.", req.path),
        );
    };
    let Some((model, method)) = rest.rsplit_once(':') else {
        return google_error(404, "NOT_FOUND", "no method");
    };
    let (publisher, model, method) = (publisher.to_owned(), model.to_owned(), method.to_owned());
    let query = req.path.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    let mut inner = req.clone();
    inner.headers.retain(|(n, _)| n != "authorization");
    match (publisher.as_str(), method.as_str()) {
        ("google", "generateContent" | "streamGenerateContent") => {
            inner.path = format!("/v1beta/models/{model}:{method}{query}");
            inner.headers.push(("x-goog-api-key".into(), "vertex".into()));
            state.gemini.answer(inner).await
        }
        ("anthropic", "rawPredict" | "streamRawPredict") => {
            let invalid = |m: &str| {
                Outcome::Respond(json_response(
                    400,
                    &[],
                    &json!({"type": "error", "error": {"type": "invalid_request_error", "message": m}}),
                ))
            };
            let Some(body) = req.body.as_object() else { return invalid("invalid JSON body") };
            if body.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16") {
                return invalid("anthropic_version: Input should be 'vertex-2023-10-16'");
            }
            if body.contains_key("model") {
                return invalid("model: Extra inputs are not permitted");
            }
            let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
            if stream != (method == "streamRawPredict") {
                return invalid(&format!("{method} does not match \"stream\": {stream}"));
            }
            let mut b = body.clone();
            b.remove("anthropic_version");
            b.insert("model".into(), json!(model));
            inner.body = Value::Object(b);
            inner.raw_body = serde_json::to_vec(&inner.body).expect("JSON").into();
            inner.path = "/v1/messages".into();
            inner.headers.push(("x-api-key".into(), "vertex".into()));
            inner.headers.push(("anthropic-version".into(), "2023-06-01".into()));
            state.anthropic.answer(inner).await
        }
        _ => google_error(404, "NOT_FOUND", &format!("Publisher model {publisher}/{model}:{method} not found.")),
    }
}

fn form_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn token(state: &State, req: &RecordedRequest) -> Outcome {
    let grant_error =
        |m: &str| Outcome::Respond(json_response(400, &[], &json!({"error": "invalid_grant", "error_description": m})));
    if req.header("content-type") != Some("application/x-www-form-urlencoded") {
        return grant_error("the request must be form-encoded");
    }
    let body = String::from_utf8_lossy(&req.raw_body).into_owned();
    let grant = form_field(&body, "grant_type").unwrap_or_default().replace("%3A", ":").replace("%3a", ":");
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return Outcome::Respond(json_response(
            400,
            &[],
            &json!({"error": "unsupported_grant_type", "error_description": format!("Invalid grant_type: {grant}")}),
        ));
    }
    let assertion = form_field(&body, "assertion").unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, sig_b64] = parts[..] else { return grant_error("Invalid JWT: not three parts") };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let (Some(header), Some(claims), Some(sig)) = (decode(header_b64), decode(claims_b64), decode(sig_b64)) else {
        return grant_error("Invalid JWT: not base64url");
    };
    let header: Value = serde_json::from_slice(&header).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&claims).unwrap_or_default();
    if header["alg"] != "RS256" {
        return grant_error("Invalid JWT: alg must be RS256");
    }
    let signed = format!("{header_b64}.{claims_b64}");
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &state.public_key).verify(signed.as_bytes(), &sig).is_err() {
        return grant_error("Invalid JWT Signature.");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    let token_uri = state.token_uri.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if claims["iss"] != CLIENT_EMAIL
        || claims["aud"] != token_uri.as_str()
        || claims["scope"] != SCOPE
        || iat > now + 300
        || now > exp
        || exp - iat > 3600
    {
        return grant_error(&format!("Invalid JWT: claims {claims}"));
    }
    let n = state.mints.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("ya29.fake-vertex-token-{n}");
    state.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone());
    Outcome::Respond(json_response(
        200,
        &[],
        &json!({"access_token": token, "expires_in": state.expires_in, "token_type": "Bearer"}),
    ))
}
