//! The OpenAI and Anthropic SDKs through Sluice to the fake Gemini: text, streams with usage,
//! tools (whole function calls, generated ids, thought signatures), multi-turn histories
//! translated to `contents`, thinking, errors and a cut stream. The usage each SDK sees must
//! equal what the fake reported, class by class.

use serde_json::{Value, json};

use super::providers::{GEMINI, GEMINI_3, GEMINI_EMBEDDING, Providers};
use super::support::fake_llm::gemini::{self, Part, Reply, Script};
use super::support::fake_llm::{anthropic, openai};
use super::{Sdk, assert_anthropic_usage, assert_no_error, assert_openai_usage, calls_of, uses_of, weather_calls};

const USAGE: gemini::Usage = gemini::Usage {
    prompt_token_count: 40,
    candidates_token_count: 9,
    cached_content_token_count: 12,
    thoughts_token_count: 5,
};

/// Gemini's usage as an OpenAI client must see it: the prompt (cached tokens included) is
/// `prompt_tokens`, thoughts are completion tokens and the reasoning part of them.
fn as_openai(u: gemini::Usage) -> openai::Usage {
    openai::Usage {
        prompt_tokens: u.prompt_token_count,
        completion_tokens: u.candidates_token_count + u.thoughts_token_count,
        cached_tokens: u.cached_content_token_count,
        reasoning_tokens: u.thoughts_token_count,
    }
}

/// As an Anthropic client must see it: cached tokens move out of `input_tokens`.
fn as_anthropic(u: gemini::Usage) -> anthropic::Usage {
    anthropic::Usage {
        input_tokens: u.prompt_token_count - u.cached_content_token_count,
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        cache_read_input_tokens: u.cached_content_token_count,
        cache_creation_input_tokens: 0,
    }
}

fn tool_parts() -> Vec<Part> {
    vec![
        Part::text("Checking both.").chunks(2),
        Part::call("get_weather", json!({"city": "Paris", "unit": "celsius"})).signature("CiQBsig-paris=="),
        Part::call("get_time", json!({"city": "Rome"})),
    ]
}

fn path(model: &str, stream: bool) -> String {
    if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    }
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

mod gemini_provider {
    scenarios!(
        openai_sdk_to_gemini_chat,
        openai_sdk_to_gemini_stream,
        openai_sdk_to_gemini_stream_usage,
        openai_sdk_to_gemini_tools,
        openai_sdk_to_gemini_tools_stream,
        openai_sdk_to_gemini_multi_turn,
        openai_sdk_to_gemini_errors,
        openai_sdk_to_gemini_stream_cut,
        anthropic_sdk_to_gemini_messages,
        anthropic_sdk_to_gemini_stream,
        anthropic_sdk_to_gemini_tools,
        anthropic_sdk_to_gemini_tools_stream,
        anthropic_sdk_to_gemini_multi_turn,
        anthropic_sdk_to_gemini_thinking,
        anthropic_sdk_to_gemini_error,
        openai_sdk_to_gemini_embeddings,
    );
}

async fn openai_sdk_to_gemini_chat() {
    let reply = Reply::text("Hello from Gemini.").usage(USAGE).model_version("gemini-2.5-flash-001");
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Gemini.");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["model"], "gemini-2.5-flash-001");
    assert_openai_usage(&out["usage"], as_openai(USAGE));
    let req = env.gemini_request();
    assert_eq!(req.path, path(GEMINI, false));
    assert_eq!(req.body["contents"], json!([{"role": "user", "parts": [{"text": "Say hello."}]}]));
    assert_eq!(req.body["generationConfig"], json!({"maxOutputTokens": 64}));
    assert!(req.body.get("model").is_none(), "the model is in the path: {}", req.body);
}

async fn openai_sdk_to_gemini_stream() {
    let reply = Reply::parts(vec![Part::text("Streamed from Gemini.").chunks(4)]).usage(USAGE).finish("MAX_TOKENS");
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Gemini.");
    assert_eq!(out["content_chunks"], 4, "one SDK chunk per Gemini event");
    assert_eq!(out["finish_reason"], "length", "MAX_TOKENS becomes length");
    assert_eq!(out["usage_chunks"], 0, "no usage chunk the client did not ask for");
    assert_eq!(out["empty_choice_chunks"], 0);
    assert_eq!(env.gemini_request().path, path(GEMINI, true));
}

async fn openai_sdk_to_gemini_stream_usage() {
    // Every event reports the usage so far; the last report is the truth (not their sum).
    let reply = Reply::parts(vec![Part::text("Counted by Gemini, piece by piece.").chunks(5)]).usage(USAGE);
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream_usage", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Counted by Gemini, piece by piece.");
    assert_eq!(out["content_chunks"], 5);
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage_chunks"], 1);
    assert_eq!(out["empty_choice_chunks"], 1);
    assert_openai_usage(&out["usage"], as_openai(USAGE));
}

async fn openai_sdk_to_gemini_tools() {
    let env = Providers::gemini(Script::reply(Reply::parts(tool_parts()).usage(USAGE))).await;
    let out = env.run(Sdk::OpenAi, "tools", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls", "STOP with function calls is a tool-call stop");
    assert_eq!(out["text"], "Checking both.");
    // Gemini's calls have no ids: Sluice numbers them.
    assert_eq!(calls_of(&out), weather_calls("call_0", "call_1"));
    assert_openai_usage(&out["usage"], as_openai(USAGE));
    let req = env.gemini_request();
    let decls = req.body["tools"][0]["functionDeclarations"].as_array().expect("declarations");
    assert_eq!(decls.len(), 2);
    assert_eq!(decls[0]["name"], "get_weather");
    assert_eq!(decls[0]["description"], "Current weather of a city");
    assert_eq!(decls[0]["parametersJsonSchema"]["required"], json!(["city"]));
    assert_eq!(req.body["toolConfig"], json!({"functionCallingConfig": {"mode": "AUTO"}}));
}

async fn openai_sdk_to_gemini_tools_stream() {
    let env = Providers::gemini(Script::reply(Reply::parts(tool_parts()).usage(USAGE))).await;
    let out = env.run(Sdk::OpenAi, "tools_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls_of(&out), weather_calls("call_0", "call_1"));
    assert_openai_usage(&out["usage"], as_openai(USAGE));
}

async fn openai_sdk_to_gemini_multi_turn() {
    // A Gemini 3 model: the fake refuses a function call without a thought signature, which an
    // OpenAI history cannot carry; Sluice sends Google's documented placeholder.
    let env = Providers::gemini(Script::reply(Reply::text("No umbrella needed.").usage(USAGE))).await;
    let out = env.run(Sdk::OpenAi, "multi_turn", GEMINI_3).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.gemini_request();
    assert_eq!(req.body["systemInstruction"], json!({"parts": [{"text": "You are a terse weather assistant."}]}));
    assert_eq!(
        req.body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{
                "functionCall": {"id": "call_paris", "name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "skip_thought_signature_validator"
            }]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_paris", "name": "get_weather", "response": {"temperature": 21, "sky": "clear"}}},
                {"text": "Should I take an umbrella?"}
            ]}
        ])
    );
}

async fn openai_sdk_to_gemini_errors() {
    let message = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).";
    let script =
        Script::queue([gemini::Behaviour::error(400, "INVALID_ARGUMENT", message), gemini::Behaviour::status(429)]);
    let env = Providers::gemini(script).await;
    let out = env.run(Sdk::OpenAi, "error", GEMINI).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert!(err["message"].as_str().expect("message").contains(message), "{err}");
    assert_eq!(err["body"]["type"], "invalid_request_error", "OpenAI's shape: {err}");
    let out = env.run(Sdk::OpenAi, "error", GEMINI).await;
    assert_eq!(out["error"]["class"], "RateLimitError", "{out}");
    assert!(out["error"]["message"].as_str().expect("message").contains("RESOURCE_EXHAUSTED"), "{out}");
}

async fn openai_sdk_to_gemini_stream_cut() {
    let reply = Reply::parts(vec![Part::text("one two three four").chunks(4)]);
    let env = Providers::gemini(Script::queue([gemini::Behaviour::Cut { reply, after: 2 }])).await;
    let out = env.run(Sdk::OpenAi, "stream_cut", GEMINI).await;
    // Two of the four pieces arrived ("one t", "wo th").
    assert_eq!(out["text"], "one two th", "{out}");
    // No finish reason came: the stream is cut, not complete.
    assert_eq!(out["error"]["class"], "APIError", "{out}");
}

async fn anthropic_sdk_to_gemini_messages() {
    let env = Providers::gemini(Script::reply(Reply::text("Hello from Gemini.").usage(USAGE))).await;
    let out = env.run(Sdk::Anthropic, "messages", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Gemini.");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let req = env.gemini_request();
    assert_eq!(req.path, path(GEMINI, false));
    assert_eq!(req.body["systemInstruction"], json!({"parts": [{"text": "You are a terse assistant."}]}));
    assert_eq!(req.body["contents"], json!([{"role": "user", "parts": [{"text": "Say hello."}]}]));
    assert_eq!(req.body["generationConfig"]["maxOutputTokens"], 256);
}

async fn anthropic_sdk_to_gemini_stream() {
    let reply = Reply::parts(vec![Part::text("Streamed from Gemini.").chunks(4)]).usage(USAGE).finish("MAX_TOKENS");
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Gemini.");
    assert_eq!(out["streamed_text"], "Streamed from Gemini.");
    assert_eq!(out["stop_reason"], "max_tokens");
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let texts = out["events"].as_array().expect("events").iter().filter(|e| *e == "text").count();
    assert_eq!(texts, 4, "{out}");
    assert_eq!(env.gemini_request().path, path(GEMINI, true));
}

async fn anthropic_sdk_to_gemini_tools() {
    let env = Providers::gemini(Script::reply(Reply::parts(tool_parts()).usage(USAGE))).await;
    let out = env.run(Sdk::Anthropic, "tools", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["text"], "Checking both.");
    // The first call's thought signature travels in a thinking block right before it.
    assert_eq!(out["block_types"], json!(["text", "thinking", "tool_use", "tool_use"]));
    assert_eq!(out["thinking"], json!([{"thinking": "", "signature": "CiQBsig-paris=="}]));
    assert_eq!(uses_of(&out), weather_calls("call_0", "call_1"));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let req = env.gemini_request();
    assert_eq!(req.body["tools"][0]["functionDeclarations"][1]["name"], "get_time");
    assert_eq!(req.body["toolConfig"], json!({"functionCallingConfig": {"mode": "AUTO"}}));
}

async fn anthropic_sdk_to_gemini_tools_stream() {
    let env = Providers::gemini(Script::reply(Reply::parts(tool_parts()).usage(USAGE))).await;
    let out = env.run(Sdk::Anthropic, "tools_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(uses_of(&out), weather_calls("call_0", "call_1"));
    assert_eq!(out["thinking"], json!([{"thinking": "", "signature": "CiQBsig-paris=="}]));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
}

async fn anthropic_sdk_to_gemini_multi_turn() {
    let env = Providers::gemini(Script::reply(Reply::text("No umbrella needed.").usage(USAGE))).await;
    let out = env.run(Sdk::Anthropic, "multi_turn", GEMINI_3).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.gemini_request();
    assert_eq!(req.body["systemInstruction"], json!({"parts": [{"text": "You are a terse weather assistant."}]}));
    assert_eq!(
        req.body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [
                {"text": "Let me check."},
                {"functionCall": {"id": "toolu_paris", "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": "skip_thought_signature_validator"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "toolu_paris", "name": "get_weather", "response": {"temperature": 21, "sky": "clear"}}},
                {"text": "Should I take an umbrella?"}
            ]}
        ])
    );
}

async fn anthropic_sdk_to_gemini_thinking() {
    let reply = Reply::parts(vec![
        Part::thought("The user greets me; greet back.").signature("EqQBsig-gemini"),
        Part::text("Hello!"),
    ])
    .usage(USAGE);
    let env = Providers::gemini(Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "thinking", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello!");
    assert_eq!(
        out["thinking"],
        json!([{"thinking": "The user greets me; greet back.", "signature": "EqQBsig-gemini"}])
    );
    assert_eq!(out["block_types"], json!(["thinking", "text"]));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let req = env.gemini_request();
    assert_eq!(
        req.body["generationConfig"],
        json!({"maxOutputTokens": 2048, "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}})
    );
}

async fn anthropic_sdk_to_gemini_error() {
    let message = "Please use a valid role: user, model.";
    let env = Providers::gemini(Script::queue([gemini::Behaviour::error(400, "INVALID_ARGUMENT", message)])).await;
    let out = env.run(Sdk::Anthropic, "error", GEMINI).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert_eq!(err["body"]["type"], "error", "{err}");
    assert_eq!(err["body"]["error"]["type"], "invalid_request_error", "{err}");
    let text: &Value = &err["body"]["error"]["message"];
    assert!(text.as_str().expect("message").contains(message), "{err}");
}

async fn openai_sdk_to_gemini_embeddings() {
    let env = Providers::gemini(Script::default()).await;
    for scenario in ["embeddings", "embeddings_float"] {
        let out = env.run(Sdk::OpenAi, scenario, GEMINI_EMBEDDING).await;
        assert_no_error(&out);
        let inputs: &[&str] = if scenario == "embeddings" { &["alpha", "beta"] } else { &["alpha"] };
        let want: Vec<Vec<f64>> =
            inputs.iter().map(|t| openai::embedding_vector(t, 8).into_iter().map(f64::from).collect()).collect();
        let got: Vec<Vec<f64>> = serde_json::from_value(out["vectors"].clone()).expect("vectors");
        assert_eq!(got, want, "{scenario}: the SDK decodes the same vectors (base64 by default)");
        assert_eq!(out["model"], GEMINI_EMBEDDING);
        // Gemini reports no usage for embeddings: Sluice's estimate, one token per word here.
        assert_eq!(out["usage"]["prompt_tokens"], inputs.len());
    }
    let reqs = env.gemini.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, format!("/v1beta/models/{GEMINI_EMBEDDING}:batchEmbedContents"));
    assert_eq!(
        reqs[0].body["requests"],
        json!([
            {"model": format!("models/{GEMINI_EMBEDDING}"), "content": {"parts": [{"text": "alpha"}]}},
            {"model": format!("models/{GEMINI_EMBEDDING}"), "content": {"parts": [{"text": "beta"}]}}
        ])
    );
}
