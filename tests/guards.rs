//! TrafficPolicy guards end to end with the official OpenAI and Anthropic SDKs (tests/python)
//! against an in-process gateway whose AI backend is the mock provider: a credit card number in
//! a streamed answer reaches the SDKs masked, whatever the chunking; a prompt a reject guard
//! matches is refused with the configured message in each SDK's own error type; a secret in a
//! prompt is masked before the provider sees it (the mock echoes the prompt back).

mod support;

use std::process::Command;

use serde_json::Value;
use sluice::runtime::{BindMode, Runtime};

fn require_sdks() {
    let ok = Command::new("python3").args(["-c", "import openai, anthropic"]).status().is_ok_and(|s| s.success());
    assert!(ok, "install the SDKs: pip install -r tests/python/requirements.txt (or bash scripts/test.sh)");
}

async fn gateway(mock: &str, guards: &str) -> (std::sync::Arc<Runtime>, String) {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend(mock)
        + &support::yaml::route_policy("guards", &format!("  guards:\n{guards}"));
    let loaded = sluice::config::parse_text("guards.yaml", &config);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("bound");
    (rt, format!("http://{addr}"))
}

async fn sdk(script: &'static str, scenario: &'static str, url: &str) -> Value {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("python3")
            .args([&format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR")), scenario])
            .env("SLUICE_BASE_URL", &url)
            .env("SLUICE_MODEL", "mock-1")
            .output()
            .expect("python3");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        })
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_in_a_streamed_answer_reaches_the_sdks_masked() {
    require_sdks();
    // 17 chunks: the number is cut in pieces across them.
    let mock = r#"{content: "Your card 4111 1111 1111 1111 is on file; reach us at help@example.com.", chunks: 17}"#;
    let (_rt, url) =
        gateway(mock, "    - {name: pii, detect: [creditCard, email], replacement: '[REDACTED]', scope: [output]}\n")
            .await;
    for (script, scenario) in
        [("openai_sdk.py", "chat_stream"), ("anthropic_sdk.py", "messages_stream"), ("openai_sdk.py", "chat")]
    {
        let out = sdk(script, scenario, &url).await;
        let text = out["text"].as_str().unwrap_or_else(|| panic!("{script} {scenario}: {out}"));
        assert!(!text.contains("4111") && !text.contains("help@example.com"), "{script} {scenario}: {text}");
        assert_eq!(text, "Your card [REDACTED] is on file; reach us at [REDACTED].", "{script} {scenario}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_prompt_is_the_sdks_own_error_with_the_configured_message() {
    require_sdks();
    let guards = "    - {name: no-greetings, regex: [{pattern: '(?i)say hello'}], action: reject, status: 400, message: 'greetings are not allowed here', scope: [user]}\n";
    let (_rt, url) = gateway("{}", guards).await;
    for (script, scenario) in [("openai_sdk.py", "chat"), ("anthropic_sdk.py", "messages")] {
        let out = sdk(script, scenario, &url).await;
        let e = &out["error"];
        assert_eq!(
            (e["class"].as_str(), e["status"].as_u64()),
            (Some("BadRequestError"), Some(400)),
            "{script}: {out}"
        );
        assert!(e["message"].as_str().is_some_and(|m| m.contains("greetings are not allowed here")), "{script}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_guards_nothing_is_masked() {
    require_sdks();
    let mock = r#"{content: "Your card 4111 1111 1111 1111 is on file.", chunks: 5}"#;
    let (_rt, url) = gateway(mock, "    - {name: unrelated, regex: [{pattern: 'zzz-never'}]}\n").await;
    let out = sdk("openai_sdk.py", "chat_stream", &url).await;
    assert!(out["text"].as_str().is_some_and(|t| t.contains("4111 1111 1111 1111")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_stream_is_masked_across_its_chunks() {
    use support::fake_llm::openai::{FakeOpenAi, Reply, Script};
    require_sdks();
    let reply = Reply::text("Card 4111 1111 1111 1111, key sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234 end.").chunks(23);
    let fake = FakeOpenAi::start(Script::reply(reply).api_key("sk-upstream")).await;
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"])
        + &support::yaml::openai_backend("gpt", fake.port())
        + r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: guards, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}]
  guards:
    - {name: pii, detect: [creditCard, secrets], scope: [output]}
"#;
    let loaded = sluice::config::parse_text("guards.yaml", &config);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let url = format!("http://{}", rt.listener_addr("default", "gw", 80).expect("bound"));
    for scenario in ["chat_stream", "chat"] {
        let out = sdk("openai_sdk.py", scenario, &url).await;
        assert_eq!(out["text"], "Card [REDACTED], key [REDACTED] end.", "{scenario}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaping_adds_messages_and_fields() {
    require_sdks();
    // The mock answers with the last user message: the one shaping appends.
    let (_rt, url) = gateway("{}", "    - {name: unrelated, regex: [{pattern: 'zzz-never'}]}\n  shaping:\n    append: [{role: user, content: Answer in French.}]\n").await;
    let out = sdk("openai_sdk.py", "chat", &url).await;
    assert_eq!(out["text"], "Answer in French.", "{out}");
}
