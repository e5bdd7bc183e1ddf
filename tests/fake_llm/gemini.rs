//! The fake Gemini API on its own: its JSON and SSE framing, cumulative stream usage, key
//! checks, the request checks of the real API, Azure mode of the OpenAI fake, and scripted
//! failures.

use serde_json::{Value, json};

use super::support::fake_llm::gemini::{self, FakeGemini, Part, Reply, Script};
use super::support::fake_llm::openai::{self, Azure, FakeOpenAi};
use super::{Seen, send};

const KEY: &str = "AIza-fake-key";

async fn post(fake: &FakeGemini, path: &str, body: &Value) -> Seen {
    send(fake.addr(), "POST", path, &[("x-goog-api-key", KEY)], Some(body)).await
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Say hi"}]}]})
}

const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

fn usage() -> gemini::Usage {
    gemini::Usage {
        prompt_token_count: 30,
        candidates_token_count: 12,
        cached_content_token_count: 10,
        thoughts_token_count: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_generate_content_json() {
    let reply =
        Reply::parts(vec![Part::text("Hi!"), Part::call("f", json!({"a": 1})).signature("c2ln")]).usage(usage());
    let fake = FakeGemini::start(Script::reply(reply).api_key(KEY)).await;
    let seen = post(&fake, GENERATE, &hello()).await;
    assert_eq!(seen.status, Some(200), "{}", seen.text());
    let v = seen.json();
    assert_eq!(v["candidates"][0]["content"]["role"], "model");
    assert_eq!(v["candidates"][0]["content"]["parts"][0], json!({"text": "Hi!"}));
    assert_eq!(
        v["candidates"][0]["content"]["parts"][1],
        json!({"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"})
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 30);
    assert_eq!(v["usageMetadata"]["cachedContentTokenCount"], 10);
    assert_eq!(v["usageMetadata"]["thoughtsTokenCount"], 4);
    assert_eq!(v["usageMetadata"]["totalTokenCount"], 46);
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert!(v["responseId"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_key_checks_come_first() {
    let fake = FakeGemini::start(Script::queue([gemini::Behaviour::status(503)]).api_key(KEY)).await;
    let none = send(fake.addr(), "POST", GENERATE, &[], Some(&hello())).await;
    assert_eq!(none.status, Some(403));
    assert_eq!(none.json()["error"]["status"], "PERMISSION_DENIED");
    let wrong = send(fake.addr(), "POST", GENERATE, &[("x-goog-api-key", "nope")], Some(&hello())).await;
    assert_eq!(wrong.status, Some(400));
    assert_eq!(wrong.json()["error"]["details"][0]["reason"], "API_KEY_INVALID");
    assert_eq!(fake.queued(), 1, "refused requests do not consume the script");
    let by_query = send(fake.addr(), "POST", &format!("{GENERATE}?key={KEY}"), &[], Some(&hello())).await;
    assert_eq!(by_query.status, Some(503));
    let unknown = post(&fake, "/v1beta/models/gemini-0:generateContent", &hello()).await;
    assert_eq!(unknown.status, Some(404));
    assert_eq!(unknown.json()["error"]["status"], "NOT_FOUND");
    let models = send(fake.addr(), "GET", "/v1beta/models", &[("x-goog-api-key", KEY)], None).await;
    assert_eq!(models.json()["models"][0]["name"], "models/gemini-2.5-flash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_stream_events_carry_cumulative_usage() {
    let reply = Reply::parts(vec![
        Part::thought("Think.").chunks(1).signature("c2ln"),
        Part::text("one two three").chunks(3),
        Part::call("f", json!({})),
    ])
    .usage(usage());
    let fake = FakeGemini::start(Script::reply(reply).api_key(KEY)).await;
    let seen = post(&fake, STREAM, &hello()).await;
    assert_eq!(seen.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let text = seen.text();
    let events: Vec<Value> = text
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data line")).expect("JSON"))
        .collect();
    assert_eq!(events.len(), 5, "a thought, three text pieces, a function call: {text}");
    assert_eq!(events[0]["candidates"][0]["content"]["parts"][0]["thought"], true);
    assert_eq!(events[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"], "c2ln");
    assert!(events[..4].iter().all(|e| e["candidates"][0].get("finishReason").is_none()));
    assert_eq!(events[4]["candidates"][0]["finishReason"], "STOP");
    let candidates: Vec<u64> =
        events.iter().map(|e| e["usageMetadata"]["candidatesTokenCount"].as_u64().expect("count")).collect();
    assert!(candidates.windows(2).all(|w| w[0] <= w[1]), "cumulative: {candidates:?}");
    assert_eq!(events[4]["usageMetadata"], usage().to_json());
    // Without alt=sse: one JSON array of the same objects.
    let array = post(&fake, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", &hello()).await;
    assert_eq!(array.json().as_array().map(Vec::len), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_rejects_what_the_real_api_rejects() {
    let fake = FakeGemini::start(Script::default().api_key(KEY)).await;
    let call = json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]});
    let answer = json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": true}}}]});
    let user = json!({"role": "user", "parts": [{"text": "go"}]});
    let cases: Vec<(&str, Value, &str)> = vec![
        (GENERATE, json!({"contents": []}), "contents is not specified"),
        (GENERATE, json!({"contents": [user], "model": "x"}), "Unknown name \"model\""),
        (GENERATE, json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}), "valid role"),
        (GENERATE, json!({"contents": [{"role": "user", "parts": []}]}), "must not be empty"),
        (
            GENERATE,
            json!({"contents": [{"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}]}),
            "oneof",
        ),
        (
            GENERATE,
            json!({"contents": [user, call, {"role": "user", "parts": [{"text": "no answer"}]}]}),
            "number of function response parts",
        ),
        (GENERATE, json!({"contents": [call, answer]}), "comes immediately after a user turn"),
        (GENERATE, json!({"contents": [user], "generationConfig": {"max_tokens": 5}}), "at 'generation_config'"),
        (GENERATE, json!({"contents": [user], "generationConfig": {"temperature": 3}}), "temperature"),
        (GENERATE, json!({"contents": [user], "generationConfig": {"responseJsonSchema": {}}}), "response_mime_type"),
        (
            GENERATE,
            json!({"contents": [user], "generationConfig": {"thinkingConfig": {"thinkingBudget": 1, "thinkingLevel": "low"}}}),
            "thinking",
        ),
        (
            GENERATE,
            json!({"contents": [user], "tools": [{"functionDeclarations": [{"name": "1bad"}]}]}),
            "Invalid function name",
        ),
        (
            GENERATE,
            json!({"contents": [user], "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}}),
            "allowed_function_names",
        ),
        (
            "/v1beta/models/gemini-3-pro-preview:generateContent",
            json!({"contents": [user, call, answer]}),
            "missing a thought_signature",
        ),
    ];
    for (path, body, want) in cases {
        let seen = post(&fake, path, &body).await;
        assert_eq!(seen.status, Some(400), "{body}: {}", seen.text());
        let v = seen.json();
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(message.contains(want), "{body}: {message:?} should contain {want:?}");
    }
    // The placeholder signature satisfies Gemini 3.
    let mut signed = call.clone();
    signed["parts"][0]["thoughtSignature"] = json!("skip_thought_signature_validator");
    let ok = post(
        &fake,
        "/v1beta/models/gemini-3-pro-preview:generateContent",
        &json!({"contents": [user, signed, answer]}),
    )
    .await;
    assert_eq!(ok.status, Some(200), "{}", ok.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_scripted_failures() {
    let reply = Reply::parts(vec![Part::text("one two three four").chunks(4)]);
    let fake = FakeGemini::start(
        Script::queue([
            gemini::Behaviour::Reset,
            gemini::Behaviour::status(429),
            gemini::Behaviour::Cut { reply: reply.clone(), after: 2 },
            gemini::Behaviour::StreamError { reply, after: 1, error: gemini::status_error(503) },
        ])
        .api_key(KEY),
    )
    .await;
    let reset = post(&fake, GENERATE, &hello()).await;
    assert_eq!(reset.status, None);
    let limited = post(&fake, GENERATE, &hello()).await;
    assert_eq!(limited.status, Some(429));
    assert_eq!(limited.json()["error"]["details"][0]["retryDelay"], "7s");
    let cut = post(&fake, STREAM, &hello()).await;
    assert!(cut.error.is_some());
    assert_eq!(cut.text().matches("data: ").count(), 2);
    let errored = post(&fake, STREAM, &hello()).await;
    assert!(errored.error.is_none());
    assert!(errored.text().ends_with("\"status\":\"UNAVAILABLE\"}}\r\n\r\n"), "{}", errored.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_fake_plays_azure() {
    let fake = FakeOpenAi::start(openai::Script::default().api_key("az-key").azure(Azure::deployments(&["dep"]))).await;
    let chat = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let path = "/openai/v1/chat/completions";
    let ok = send(fake.addr(), "POST", path, &[("api-key", "az-key")], Some(&chat("dep"))).await;
    assert_eq!(ok.status, Some(200), "{}", ok.text());
    let bearer = send(fake.addr(), "POST", path, &[("authorization", "Bearer az-key")], Some(&chat("dep"))).await;
    assert_eq!(bearer.status, Some(200), "the v1 API takes the key as a bearer token too");
    let no_key = send(fake.addr(), "POST", path, &[], Some(&chat("dep"))).await;
    assert_eq!(no_key.status, Some(401));
    assert_eq!(no_key.json()["error"]["code"], "401");
    let version = format!("{path}?api-version=2024-02-30");
    let bad_version = send(fake.addr(), "POST", &version, &[("api-key", "az-key")], Some(&chat("dep"))).await;
    assert_eq!(bad_version.status, Some(400));
    let preview = format!("{path}?api-version=preview");
    let preview = send(fake.addr(), "POST", &preview, &[("api-key", "az-key")], Some(&chat("dep"))).await;
    assert_eq!(preview.status, Some(200));
    let missing = send(fake.addr(), "POST", path, &[("api-key", "az-key")], Some(&chat("gpt-4o"))).await;
    assert_eq!(missing.status, Some(404));
    assert_eq!(missing.json()["error"]["code"], "DeploymentNotFound");
    let openai_path =
        send(fake.addr(), "POST", "/v1/chat/completions", &[("api-key", "az-key")], Some(&chat("dep"))).await;
    assert_eq!(openai_path.status, Some(404));
}
