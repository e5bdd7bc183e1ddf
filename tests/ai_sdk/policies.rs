//! Virtual keys (TrafficPolicy `authentication.apiKeys`) with the official OpenAI and
//! Anthropic SDKs: a key of Sluice's lets the SDK through (the provider gets the AIBackend's
//! own key, never the client's), a wrong one is a 401 in the SDK's own error shape, a model
//! outside the key's list a 403, and `/v1/models` lists only the key's models.

use serde_json::Value;

use super::support::fake_llm::anthropic::{self, FakeAnthropic};
use super::support::fake_llm::openai::{self, FakeOpenAi};
use super::{
    ANTHROPIC_UPSTREAM_KEY, CLAUDE, GPT, OPENAI_UPSTREAM_KEY, Sdk, gateway_config, require_sdks, run_script,
    start_sluice,
};

/// Two virtual keys: `sk-team-ml` for every model, `sk-intern` for `gpt-4o-mini` only.
fn policy() -> String {
    r#"---
apiVersion: v1
kind: Secret
metadata: {name: virtual-keys, namespace: default}
stringData:
  ml-team: '{"key": "sk-team-ml", "attributes": {"team": "ml"}}'
  intern: '{"key": "sk-intern", "attributes": {"team": "interns"}, "models": ["gpt-4o-mini"]}'
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}]
  authentication:
    apiKeys: {secretRefs: [{name: virtual-keys}]}
"#
    .to_string()
}

struct Env {
    openai: FakeOpenAi,
    anthropic: FakeAnthropic,
    url: String,
    _rt: std::sync::Arc<sluice::runtime::Runtime>,
}

async fn start() -> Env {
    require_sdks();
    let openai =
        FakeOpenAi::start(openai::Script::reply(openai::Reply::text("hello")).api_key(OPENAI_UPSTREAM_KEY)).await;
    let anthropic =
        FakeAnthropic::start(anthropic::Script::reply(anthropic::Reply::text("hello")).api_key(ANTHROPIC_UPSTREAM_KEY))
            .await;
    let (rt, url) = start_sluice(&(gateway_config(openai.port(), anthropic.port()) + &policy())).await;
    Env { openai, anthropic, url, _rt: rt }
}

fn error(out: &Value) -> &Value {
    &out["error"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_keys_with_the_official_sdks() {
    let env = start().await;

    // A good key: answered; the provider got the AIBackend's key, not the client's.
    let out = run_script(Sdk::OpenAi, "chat", &env.url, "sk-team-ml", GPT).await;
    assert!(out.get("error").is_none(), "{out}");
    let sent = env.openai.requests().pop().expect("the provider was asked");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {OPENAI_UPSTREAM_KEY}").as_str()));
    let out = run_script(Sdk::Anthropic, "messages", &env.url, "sk-team-ml", CLAUDE).await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(env.anthropic.requests().pop().expect("asked").header("x-api-key"), Some(ANTHROPIC_UPSTREAM_KEY));

    // A wrong key: 401 in each SDK's own shape, and nothing reaches a provider.
    let before = (env.openai.requests().len(), env.anthropic.requests().len());
    let out = run_script(Sdk::OpenAi, "chat", &env.url, "sk-not-a-key", GPT).await;
    let e = error(&out);
    assert_eq!((e["class"].as_str(), e["status"].as_u64()), (Some("AuthenticationError"), Some(401)), "{out}");
    assert_eq!(e["body"]["type"], "authentication_error", "OpenAI's error object: {out}");
    let out = run_script(Sdk::Anthropic, "messages", &env.url, "sk-not-a-key", CLAUDE).await;
    let e = error(&out);
    assert_eq!((e["class"].as_str(), e["status"].as_u64()), (Some("AuthenticationError"), Some(401)), "{out}");
    assert_eq!(e["body"]["type"], "error", "Anthropic's error envelope: {out}");
    assert_eq!(e["body"]["error"]["type"], "authentication_error", "{out}");
    assert_eq!((env.openai.requests().len(), env.anthropic.requests().len()), before, "nothing went upstream");

    // The intern's key: its model only.
    let out = run_script(Sdk::OpenAi, "chat", &env.url, "sk-intern", GPT).await;
    assert!(out.get("error").is_none(), "{out}");
    let out = run_script(Sdk::Anthropic, "messages", &env.url, "sk-intern", CLAUDE).await;
    let e = error(&out);
    assert_eq!((e["class"].as_str(), e["status"].as_u64()), (Some("PermissionDeniedError"), Some(403)), "{out}");
    let out = run_script(Sdk::OpenAi, "models", &env.url, "sk-intern", GPT).await;
    let ids: Vec<&str> = out["ids"].as_array().expect("ids").iter().filter_map(Value::as_str).collect();
    assert!(!ids.is_empty() && ids.iter().all(|m| *m == GPT), "only the key's models: {out}");
    let out = run_script(Sdk::OpenAi, "models", &env.url, "sk-team-ml", GPT).await;
    assert!(out["ids"].as_array().expect("ids").len() > 1, "every model for the team key: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_policy_the_same_keys_mean_nothing() {
    // The policy is what refuses: the same gateway without it lets a made-up key through.
    require_sdks();
    let openai =
        FakeOpenAi::start(openai::Script::reply(openai::Reply::text("hello")).api_key(OPENAI_UPSTREAM_KEY)).await;
    let anthropic = FakeAnthropic::start(anthropic::Script::reply(anthropic::Reply::text("x"))).await;
    let (_rt, url) = start_sluice(&gateway_config(openai.port(), anthropic.port())).await;
    let out = run_script(Sdk::OpenAi, "chat", &url, "sk-not-a-key", GPT).await;
    assert!(out.get("error").is_none(), "{out}");
}
