//! The OpenAI and Anthropic SDKs through Sluice to Azure OpenAI (the fake OpenAI playing a
//! resource's v1 API): the path under `/openai/v1`, the `api-version` query, the key in
//! `api-key`, the deployment as the model (from an alias or from `settings.deployment`), and
//! usage exactly as the provider reported it.

use serde_json::json;

use super::providers::{
    AZURE_DEPLOYMENT, AZURE_EMBEDDING_DEPLOYMENT, AZURE_EMBEDDING_MODEL, AZURE_FIXED_MODEL, AZURE_MODEL, Providers,
};
use super::support::fake_llm::openai::{self, Reply, Script};
use super::{
    OPENAI_USAGE, Sdk, assert_anthropic_usage, assert_no_error, assert_openai_usage, openai_usage_as_anthropic,
};

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name().await;
            }
        )*
    };
}

mod azure_provider {
    scenarios!(
        openai_sdk_to_azure_chat,
        openai_sdk_to_azure_stream_usage,
        openai_sdk_to_azure_embeddings,
        openai_sdk_to_azure_error,
        openai_sdk_to_azure_fixed_deployment,
        anthropic_sdk_to_azure_messages,
        anthropic_sdk_to_azure_stream,
    );
}

async fn openai_sdk_to_azure_chat() {
    let reply = Reply::text("Hello from Azure.").usage(OPENAI_USAGE).model("gpt-4o-2024-11-20");
    let env = Providers::azure(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat", AZURE_MODEL).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Azure.");
    assert_eq!(out["model"], "gpt-4o-2024-11-20");
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
    let req = env.azure_request();
    assert_eq!(req.path, "/openai/v1/chat/completions?api-version=preview");
    // Same format: the client's body goes through, the alias resolved to the deployment.
    assert_eq!(req.body["model"], AZURE_DEPLOYMENT);
    assert_eq!(req.body["messages"], json!([{"role": "user", "content": "Say hello."}]));
    assert_eq!(req.body["max_tokens"], 64);
}

async fn openai_sdk_to_azure_stream_usage() {
    let reply = Reply::text("Streaming from Azure.").chunks(4).usage(OPENAI_USAGE);
    let env = Providers::azure(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream_usage", AZURE_MODEL).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streaming from Azure.");
    assert_eq!(out["content_chunks"], 4);
    assert_eq!(out["usage_chunks"], 1);
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
    let req = env.azure_request();
    assert_eq!(req.path, "/openai/v1/chat/completions?api-version=preview");
    assert_eq!(req.body["stream_options"]["include_usage"], true);
}

async fn openai_sdk_to_azure_embeddings() {
    let reply = Reply::text("").usage(openai::Usage::new(6, 0));
    let env = Providers::azure(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "embeddings", AZURE_EMBEDDING_MODEL).await;
    assert_no_error(&out);
    let want: Vec<Vec<f64>> =
        ["alpha", "beta"].iter().map(|t| openai::embedding_vector(t, 8).into_iter().map(f64::from).collect()).collect();
    let got: Vec<Vec<f64>> = serde_json::from_value(out["vectors"].clone()).expect("vectors");
    assert_eq!(got, want);
    assert_eq!(out["usage"]["prompt_tokens"], 6);
    let req = env.azure_request();
    assert_eq!(req.path, "/openai/v1/embeddings?api-version=preview");
    assert_eq!(req.body["model"], AZURE_EMBEDDING_DEPLOYMENT);
    assert_eq!(req.body["encoding_format"], "base64");
}

async fn openai_sdk_to_azure_error() {
    let message = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.";
    let body = json!({"error": {"message": message, "type": null, "param": "prompt", "code": "content_filter", "status": 400}});
    let script = Script::queue([openai::Behaviour::Error { status: 400, body, retry_after: None }]);
    let env = Providers::azure(script).await;
    let out = env.run(Sdk::OpenAi, "error", AZURE_MODEL).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    // Azure speaks OpenAI's error format: the body reaches the client untouched.
    assert_eq!(err["body"]["code"], "content_filter", "{err}");
    assert!(err["message"].as_str().expect("message").contains("content management policy"), "{err}");
    env.azure_request();
}

async fn openai_sdk_to_azure_fixed_deployment() {
    let env = Providers::azure(Script::reply(Reply::text("Fixed.").usage(OPENAI_USAGE))).await;
    let out = env.run(Sdk::OpenAi, "chat", AZURE_FIXED_MODEL).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Fixed.");
    let req = env.azure_request();
    // No apiVersion setting: the v1 API needs no query.
    assert_eq!(req.path, "/openai/v1/chat/completions");
    assert_eq!(req.body["model"], AZURE_DEPLOYMENT, "settings.deployment is the model sent");
}

async fn anthropic_sdk_to_azure_messages() {
    let env = Providers::azure(Script::reply(Reply::text("Hello from Azure.").usage(OPENAI_USAGE))).await;
    let out = env.run(Sdk::Anthropic, "messages", AZURE_MODEL).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Azure.");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
    let req = env.azure_request();
    assert_eq!(req.path, "/openai/v1/chat/completions?api-version=preview");
    assert_eq!(req.body["model"], AZURE_DEPLOYMENT);
    assert_eq!(req.body["messages"][0], json!({"role": "system", "content": "You are a terse assistant."}));
    assert_eq!(req.body["max_completion_tokens"], 256);
}

async fn anthropic_sdk_to_azure_stream() {
    let reply = Reply::text("Streamed from Azure.").chunks(3).usage(OPENAI_USAGE).finish("length");
    let env = Providers::azure(Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", AZURE_MODEL).await;
    assert_no_error(&out);
    assert_eq!(out["streamed_text"], "Streamed from Azure.");
    assert_eq!(out["stop_reason"], "max_tokens");
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
    assert_eq!(env.azure_request().body["stream_options"]["include_usage"], true);
}
