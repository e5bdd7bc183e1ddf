//! Google's `google-genai` Python SDK (tests/python/genai_sdk.py) through Sluice's Gemini front
//! door: to the fake Gemini (same format: bodies and events pass untouched), to the OpenAI and
//! Anthropic fakes (translated both ways), and straight to the fake Gemini, which proves the
//! scenario script and the fake agree with each other before Sluice is in between.

use serde_json::{Value, json};

use super::providers::{GEMINI, GEMINI_EMBEDDING, GEMINI_UPSTREAM_KEY, Providers};
use super::support::fake_llm::gemini::{self, FakeGemini, Part, Reply, Script};
use super::support::fake_llm::{anthropic, openai};
use super::{
    ANTHROPIC_USAGE, CLAUDE, Env, GPT, OPENAI_USAGE, Sdk, Target, anthropic_tool_blocks, assert_no_error,
    openai_tool_calls, require_sdks, run_script,
};

const USAGE: gemini::Usage = gemini::Usage {
    prompt_token_count: 40,
    candidates_token_count: 9,
    cached_content_token_count: 12,
    thoughts_token_count: 5,
};

/// The usage the SDK parsed: prompt, candidates, total, cached, thoughts.
fn usage(out: &Value) -> [u64; 5] {
    let u = &out["usage"];
    ["prompt", "candidates", "total", "cached", "thoughts"].map(|k| u[k].as_u64().unwrap_or(0))
}

fn gemini_usage(u: gemini::Usage) -> [u64; 5] {
    [u.prompt_token_count, u.candidates_token_count, u.total(), u.cached_content_token_count, u.thoughts_token_count]
}

/// `(name, args)` of the function calls the SDK parsed.
fn calls(out: &Value) -> Vec<(String, Value)> {
    let calls = out["function_calls"].as_array().unwrap_or_else(|| panic!("function_calls: {out}"));
    calls.iter().map(|c| (c["name"].as_str().expect("name").to_owned(), c["args"].clone())).collect()
}

fn weather() -> Vec<(String, Value)> {
    vec![
        ("get_weather".to_owned(), json!({"city": "Paris", "unit": "celsius"})),
        ("get_time".to_owned(), json!({"city": "Rome"})),
    ]
}

fn tool_parts() -> Vec<Part> {
    vec![
        Part::call("get_weather", json!({"city": "Paris", "unit": "celsius"})).signature("CiQBc2lnUGFyaXM="),
        Part::call("get_time", json!({"city": "Rome"})),
    ]
}

async fn direct(fake: &FakeGemini, scenario: &str, model: &str) -> Value {
    require_sdks();
    let out = run_script(Sdk::Genai, scenario, &fake.base_url(), GEMINI_UPSTREAM_KEY, model).await;
    eprintln!("Genai {scenario} direct: {out}");
    out
}

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

mod genai {
    scenarios!(
        direct_genai_to_fake_gemini,
        genai_to_gemini_chat,
        genai_to_gemini_stream,
        genai_to_gemini_tools,
        genai_to_gemini_count_tokens,
        genai_to_gemini_embed,
        genai_to_openai_chat,
        genai_to_openai_stream,
        genai_to_openai_tools_stream,
        genai_to_openai_tool_loop,
        genai_to_openai_embed_and_count,
        genai_to_anthropic_chat,
        genai_to_anthropic_stream,
        genai_to_anthropic_tools,
        genai_to_anthropic_tool_loop,
        genai_models_and_errors,
    );
}

/// The script and the fake on their own: what the gateway runs are compared with.
async fn direct_genai_to_fake_gemini() {
    let reply = Reply::text("Hello from Gemini.").usage(USAGE);
    let fake = FakeGemini::start(
        Script::queue([
            gemini::Behaviour::Reply(reply.clone()),
            gemini::Behaviour::Reply(Reply::parts(vec![Part::text("Streamed.").chunks(3)]).usage(USAGE)),
            gemini::Behaviour::Reply(Reply::parts(tool_parts()).usage(USAGE)),
        ])
        .api_key(GEMINI_UPSTREAM_KEY),
    )
    .await;
    let out = direct(&fake, "chat", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Gemini.");
    assert_eq!(out["finish_reason"], "STOP");
    assert_eq!(usage(&out), gemini_usage(USAGE));
    let out = direct(&fake, "chat_stream", GEMINI).await;
    assert_eq!((out["text"].as_str(), out["chunks"].as_u64()), (Some("Streamed."), Some(3)));
    let out = direct(&fake, "tools", GEMINI).await;
    assert_eq!(calls(&out), weather());
    let out = direct(&fake, "count_tokens", GEMINI).await;
    assert_eq!(out["total_tokens"], 8, "seven words and one content");
    let out = direct(&fake, "embed", GEMINI_EMBEDDING).await;
    assert_no_error(&out);
    assert_eq!(out["embeddings"].as_array().map(Vec::len), Some(2));
}

async fn genai_to_gemini_chat() {
    let reply = Reply::text("Hello from Gemini.").usage(USAGE).model_version("gemini-2.5-flash-001");
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Gemini.");
    assert_eq!(out["finish_reason"], "STOP");
    assert_eq!(out["model_version"], "gemini-2.5-flash-001");
    assert_eq!(usage(&out), gemini_usage(USAGE));
    // Same format: the SDK's body reaches Gemini as it was sent, with Sluice's key.
    let req = env.gemini_request();
    assert_eq!(req.path, format!("/v1beta/models/{GEMINI}:generateContent"));
    assert_eq!(req.body["contents"], json!([{"role": "user", "parts": [{"text": "Say hello."}]}]));
    assert_eq!(req.body["generationConfig"], json!({"maxOutputTokens": 64}));
}

async fn genai_to_gemini_stream() {
    let reply = Reply::parts(vec![Part::text("Streamed from Gemini.").chunks(4)]).usage(USAGE);
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Gemini.");
    assert_eq!(out["chunks"], 4, "Gemini's events pass through one for one");
    assert_eq!(out["finish_reason"], "STOP");
    assert_eq!(usage(&out), gemini_usage(USAGE));
    assert_eq!(env.gemini_request().path, format!("/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse"));
}

async fn genai_to_gemini_tools() {
    let env = Providers::gemini(Script::reply(Reply::parts(tool_parts()).usage(USAGE))).await;
    let out = env.run(Sdk::Genai, "tools", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(calls(&out), weather());
    assert_eq!(out["signatures"], json!(["CiQBc2lnUGFyaXM="]), "the thought signature is the provider's, untouched");
    let req = env.gemini_request();
    let decls = &req.body["tools"][0]["functionDeclarations"];
    assert_eq!(decls[0]["name"], "get_weather");
    assert_eq!(decls[1]["parameters"]["type"], "OBJECT", "same format: the SDK's schema as sent");
}

async fn genai_to_gemini_count_tokens() {
    let env = Providers::gemini(Script::default()).await;
    let out = env.run(Sdk::Genai, "count_tokens", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["total_tokens"], 8, "Gemini's own count");
    let req = env.gemini_request();
    assert_eq!(req.path, format!("/v1beta/models/{GEMINI}:countTokens"));
}

async fn genai_to_gemini_embed() {
    let env = Providers::gemini(Script::default()).await;
    let out = env.run(Sdk::Genai, "embed", GEMINI_EMBEDDING).await;
    assert_no_error(&out);
    let fake = FakeGemini::start(Script::default().api_key(GEMINI_UPSTREAM_KEY)).await;
    let want = direct(&fake, "embed", GEMINI_EMBEDDING).await;
    assert_eq!(out["embeddings"], want["embeddings"], "the vectors Gemini gives the SDK directly");
    assert_eq!(out["first"], want["first"]);
    assert_eq!(env.gemini_request().path, format!("/v1beta/models/{GEMINI_EMBEDDING}:batchEmbedContents"));
}

async fn genai_to_openai_chat() {
    let reply = openai::Reply::text("Hello from OpenAI.").usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat_system", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from OpenAI.");
    assert_eq!(out["finish_reason"], "STOP");
    let u = OPENAI_USAGE;
    let want = [
        u.prompt_tokens,
        u.completion_tokens - u.reasoning_tokens,
        u.prompt_tokens + u.completion_tokens,
        u.cached_tokens,
        u.reasoning_tokens,
    ];
    assert_eq!(usage(&out), want);
    let req = env.openai_request();
    assert_eq!(req.body["model"], GPT);
    assert_eq!(
        req.body["messages"],
        json!([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}])
    );
    assert_eq!(req.body["stop"], json!(["END"]));
}

async fn genai_to_openai_stream() {
    let reply = openai::Reply::text("Streamed from OpenAI.").chunks(3).usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from OpenAI.");
    assert_eq!(out["finish_reason"], "STOP");
    assert_eq!(usage(&out)[0], OPENAI_USAGE.prompt_tokens);
    let req = env.openai_request();
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["stream_options"], json!({"include_usage": true}), "usage is asked for the Gemini client");
}

async fn genai_to_openai_tools_stream() {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "tools_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(calls(&out), weather(), "arguments streamed in pieces arrive as whole calls");
    let req = env.openai_request();
    let tools = req.body["tools"].as_array().expect("tools");
    assert_eq!(tools[1]["function"]["parameters"]["type"], "object", "OpenAPI's OBJECT is JSON Schema's object");
}

async fn genai_to_openai_tool_loop() {
    let reply = openai::Reply::text("18C in Paris; 14:05 in Rome.").usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "tool_loop", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "18C in Paris; 14:05 in Rome.");
    let req = env.openai_request();
    let m = req.body["messages"].as_array().expect("messages");
    assert_eq!(m.len(), 4, "{m:#?}");
    let ids: Vec<&str> =
        m[1]["tool_calls"].as_array().expect("calls").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["call_0", "call_1"]);
    assert_eq!((m[2]["role"].as_str(), m[2]["tool_call_id"].as_str()), (Some("tool"), Some("call_0")));
    assert_eq!(m[2]["content"], "18C, cloudy");
    assert_eq!((m[3]["tool_call_id"].as_str(), m[3]["content"].as_str()), (Some("call_1"), Some("14:05")));
}

async fn genai_to_openai_embed_and_count() {
    let env = Env::openai_only(Target::Gateway, openai::Script::default()).await;
    let out = env.run(Sdk::Genai, "embed", "text-embedding-3-small").await;
    assert_no_error(&out);
    assert_eq!(out["embeddings"].as_array().map(Vec::len), Some(2));
    let req = env.openai_request();
    assert_eq!(req.path, "/v1/embeddings");
    assert_eq!(req.body["input"], json!(["first text", "second text"]));
    let out = env.run(Sdk::Genai, "count_tokens", GPT).await;
    assert_no_error(&out);
    // Sluice's tokenizer (o200k for gpt-4o-mini): the sentence is 8 tokens, the turn adds its own.
    let n = out["total_tokens"].as_u64().expect("total_tokens");
    assert!((8..20).contains(&n), "{out}");
}

async fn genai_to_anthropic_chat() {
    let reply = anthropic::Reply::text("Hello from Claude.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat_system", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Claude.");
    assert_eq!(out["finish_reason"], "STOP");
    let u = ANTHROPIC_USAGE;
    let prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    assert_eq!(usage(&out), [prompt, u.output_tokens, prompt + u.output_tokens, u.cache_read_input_tokens, 0]);
    let req = env.anthropic_request();
    assert_eq!(req.body["system"], "You are terse.");
    assert_eq!(req.body["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]));
}

async fn genai_to_anthropic_stream() {
    let reply = anthropic::Reply::blocks(vec![anthropic::Block::text("Streamed from Claude.").chunks(3)])
        .usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "chat_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Claude.");
    assert_eq!(out["finish_reason"], "STOP");
    assert_eq!(usage(&out)[1], ANTHROPIC_USAGE.output_tokens);
}

async fn genai_to_anthropic_tools() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls(&out), weather());
    let ids: Vec<&str> =
        out["function_calls"].as_array().expect("calls").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["toolu_paris", "toolu_rome"], "Anthropic's ids reach the client");
    assert_eq!(out["finish_reason"], "STOP");
}

async fn genai_to_anthropic_tool_loop() {
    let reply = anthropic::Reply::text("18C in Paris; 14:05 in Rome.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Genai, "tool_loop", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "18C in Paris; 14:05 in Rome.");
    let req = env.anthropic_request();
    let m = req.body["messages"].as_array().expect("messages");
    assert_eq!(m.len(), 3, "user, assistant calls, user results: {m:#?}");
    assert_eq!(m[1]["content"][0]["id"], "call_0");
    assert_eq!(m[2]["content"][0]["tool_use_id"], "call_0");
    assert_eq!(m[2]["content"][1]["tool_use_id"], "call_1");
}

async fn genai_models_and_errors() {
    let env = Env::openai_only(Target::Gateway, openai::Script::default()).await;
    let out = env.run(Sdk::Genai, "models_list", GPT).await;
    assert_no_error(&out);
    let names = out["models"].as_array().expect("models");
    for want in ["models/gpt-4o-mini", "models/claude-sonnet-4-6"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let out = env.run(Sdk::Genai, "unknown_model", GPT).await;
    assert_eq!(out["error"]["status"], 404, "{out}");
    assert_eq!(out["error"]["body"], "NOT_FOUND", "Google's status name: {out}");
    assert!(env.openai.requests().is_empty(), "nothing reached a provider");
}
