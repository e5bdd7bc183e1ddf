//! The Gemini front door with a raw HTTP client, for what the google-genai suite (ai_sdk/genai.rs)
//! does not send: virtual keys in Google's `key=` parameter (accepted, and never forwarded),
//! refusals and bad input in Google's error shape, and a stream asked without `alt=sse` (one JSON
//! array, as the API answers then).

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};
use support::fake_llm::gemini::{FakeGemini, Reply, Script};
use support::gateway::{header, start as gateway};

const UPSTREAM_KEY: &str = "AIza-fake-upstream-door-7";
const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

/// A POST; the body comes back de-chunked.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String, String) {
    support::gateway::request_whole(addr, "POST", path, &[], body).await
}

fn hello() -> String {
    json!({"contents": [{"role": "user", "parts": [{"text": "Say hi"}]}]}).to_string()
}

/// Google's error body: `(code, status)`.
fn google_error(body: &str) -> (u64, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    let e = &v["error"];
    (e["code"].as_u64().unwrap_or(0), e["status"].as_str().unwrap_or_default().to_owned())
}

const KEYS: &str = r#"---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: default}
stringData: {ml: sk-ml-123}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_key_in_the_key_parameter_is_accepted_and_never_forwarded() {
    let fake = FakeGemini::start(Script::reply(Reply::text("Hi there.")).api_key(UPSTREAM_KEY)).await;
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gemini}"])
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: gemini-key, namespace: default}}
stringData: {{apiKey: {UPSTREAM_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: gemini, namespace: default}}
spec:
  provider: {{type: gemini, baseURL: "http://127.0.0.1:{}/v1beta", auth: {{secretRef: {{name: gemini-key}}}}}}
"#,
            fake.port()
        )
        + KEYS
        + &support::yaml::route_policy("keys", "  authentication: {apiKeys: {secretRefs: [{name: keys}]}}\n");
    let (_rt, addr) = gateway(&config).await;

    let (status, _, body) = post(addr, &format!("{GENERATE}?key=sk-ml-123"), &hello()).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "Hi there.");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1beta/models/gemini-2.5-flash:generateContent", "no key= upstream");
    assert_eq!(reqs[0].header("x-goog-api-key"), Some(UPSTREAM_KEY), "the Secret's key, not the client's");

    let (status, head, body) =
        post(addr, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=sk-wrong", &hello()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(google_error(&body), (401, "UNAUTHENTICATED".to_owned()), "{body}");
    assert!(header(&head, "www-authenticate").is_some(), "{head}");
    let (status, _, body) = post(addr, GENERATE, &hello()).await;
    assert_eq!((status, google_error(&body).1.as_str()), (401, "UNAUTHENTICATED"), "no key at all: {body}");
    assert_eq!(fake.requests().len(), 1, "refused requests reach no provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_bad_input_are_answered_in_googles_shape() {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("{}")
        + &support::yaml::route_policy("limits", "  rateLimits:\n    - {name: four, requests: 4, per: hour}\n");
    let (_rt, addr) = gateway(&config).await;
    let mock = "/v1beta/models/mock-1:generateContent";
    // Request limits count on arrival: the three bad requests and one good one take the four.

    let (status, _, body) = post(addr, mock, "{not json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(google_error(&body), (400, "INVALID_ARGUMENT".to_owned()));
    let (status, _, body) = post(addr, mock, r#"{"contents": []}"#).await;
    assert_eq!((status, google_error(&body).1.as_str()), (400, "INVALID_ARGUMENT"), "{body}");
    let (status, _, body) = post(addr, "/v1beta/models/mock-1:predict", &hello()).await;
    assert_eq!((status, google_error(&body).1.as_str()), (404, "NOT_FOUND"), "an unknown method: {body}");

    let (status, _, body) = post(addr, mock, &hello()).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert!(v["candidates"][0]["content"]["parts"][0]["text"].is_string(), "{body}");
    assert!(v["usageMetadata"]["totalTokenCount"].as_u64().is_some_and(|n| n > 0), "{body}");

    let (status, head, body) = post(addr, mock, &hello()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(google_error(&body), (429, "RESOURCE_EXHAUSTED".to_owned()));
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let detail = &v["error"]["details"][0];
    assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.RetryInfo", "{body}");
    let delay = detail["retryDelay"].as_str().expect("retryDelay");
    assert_eq!(header(&head, "retry-after").map(|s| format!("{s}s")).as_deref(), Some(delay), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_asked_without_alt_sse_is_one_json_array() {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("{}");
    let (_rt, addr) = gateway(&config).await;
    let (status, head, body) = post(addr, "/v1beta/models/mock-1:streamGenerateContent", &hello()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&head, "content-type"), Some("application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("one JSON array ({e}): {body}"));
    let chunks = v.as_array().expect("array");
    assert!(chunks.len() >= 2, "{body}");
    let text: String =
        chunks.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert!(!text.is_empty(), "{body}");
    assert_eq!(chunks.last().expect("last")["candidates"][0]["finishReason"], "STOP", "{body}");

    let (status, head, body) = post(addr, "/v1beta/models/mock-1:streamGenerateContent?alt=sse", &hello()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("text/event-stream"), "{head}");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("each event one JSON object"))
        .collect();
    assert!(events.len() >= 2, "{body}");
    let joined: String =
        events.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(joined, text, "the same answer either way");
}
