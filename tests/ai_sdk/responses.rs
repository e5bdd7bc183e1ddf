//! The OpenAI SDK's Responses API (`client.responses.create`) through Sluice to the fake OpenAI
//! and the fake Anthropic providers: Sluice translates the Responses request into the
//! provider's chat format and the answer (or its stream) back into a `response` object (or
//! Responses events). Text, tool calls, statuses and usage are checked class by class.
//! The fakes speak no Responses API themselves, so these scenarios run through the gateway only.

use serde_json::{Value, json};

use super::support::fake_llm::anthropic::{self, Block};
use super::support::fake_llm::openai;
use super::{
    ANTHROPIC_USAGE, CLAUDE, CONTEXT_ERROR, Env, GPT, OPENAI_USAGE, Sdk, TOO_LONG, Target, anthropic_tool_blocks,
    anthropic_usage_as_openai, assert_no_error, calls_of, openai_tool_calls, text_of, weather_calls,
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

mod responses_front_door {
    scenarios!(
        responses_to_openai,
        responses_stream_to_openai,
        responses_tools_to_openai,
        responses_tools_stream_to_openai,
        responses_round_trip_to_openai,
        responses_error_from_openai,
        responses_to_anthropic,
        responses_stream_to_anthropic,
        responses_tools_to_anthropic,
        responses_tools_stream_to_anthropic,
        responses_stream_helper_to_anthropic,
        responses_round_trip_to_anthropic,
        responses_error_from_anthropic,
        responses_stored_continued_on_anthropic,
    );
}

/// Asserts the usage of a `response` object, class by class, against what the provider
/// reported (in OpenAI's classes: input counts cached tokens).
fn assert_responses_usage(seen: &Value, want: openai::Usage) {
    assert_eq!(seen["input_tokens"], want.prompt_tokens, "input_tokens in {seen}");
    assert_eq!(seen["input_tokens_details"]["cached_tokens"], want.cached_tokens, "cached_tokens in {seen}");
    assert_eq!(seen["output_tokens"], want.completion_tokens, "output_tokens in {seen}");
    assert_eq!(seen["output_tokens_details"]["reasoning_tokens"], want.reasoning_tokens, "reasoning_tokens in {seen}");
    assert_eq!(seen["total_tokens"], want.total_tokens(), "total_tokens in {seen}");
}

/// The shape every Responses stream must have: created and in_progress first, a terminal
/// event last, sequence numbers 0, 1, 2…
fn assert_stream_shape(out: &Value, terminal: &str) {
    let types: Vec<&str> =
        out["event_types"].as_array().expect("event_types").iter().map(|t| t.as_str().expect("type")).collect();
    assert_eq!(types[..2], ["response.created", "response.in_progress"], "{types:?}");
    assert_eq!(types.last(), Some(&terminal), "{types:?}");
    let seq: Vec<u64> =
        out["sequence_numbers"].as_array().expect("sequence_numbers").iter().map(|n| n.as_u64().expect("n")).collect();
    assert_eq!(seq, (0..seq.len() as u64).collect::<Vec<_>>());
}

async fn openai_env(reply: openai::Reply) -> Env {
    Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await
}

async fn anthropic_env(reply: anthropic::Reply) -> Env {
    Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await
}

// ---- OpenAI SDK (Responses) → OpenAI provider ---------------------------------------------------

async fn responses_to_openai() {
    let reply = openai::Reply::text("Hello! How can I help?").usage(OPENAI_USAGE).model("gpt-4o-mini-2024-07-18");
    let env = openai_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["object"], "response");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["text"], "Hello! How can I help?");
    assert_eq!(out["output_types"], json!(["message"]));
    assert_eq!(out["model"], "gpt-4o-mini-2024-07-18");
    assert!(out["id"].as_str().expect("id").starts_with("resp_"), "{out}");
    assert_responses_usage(&out["usage"], OPENAI_USAGE);
    let req = env.openai_request();
    assert_eq!(req.path, "/v1/chat/completions", "translated to chat completions");
    assert_eq!(req.body["model"], GPT);
    assert_eq!(
        req.body["messages"],
        json!([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}])
    );
    assert_eq!(req.body["max_completion_tokens"], 64);
}

async fn responses_stream_to_openai() {
    let reply = openai::Reply::text("Hello, streaming world!").chunks(4).usage(OPENAI_USAGE);
    let env = openai_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_stream", GPT).await;
    assert_no_error(&out);
    assert_stream_shape(&out, "response.completed");
    assert_eq!(out["streamed_text"], "Hello, streaming world!");
    assert_eq!(out["text"], "Hello, streaming world!");
    let deltas = out["event_types"].as_array().expect("types").iter().filter(|t| *t == "response.output_text.delta");
    assert_eq!(deltas.count(), 4, "one delta per upstream chunk");
    assert_eq!(out["status"], "completed");
    assert_responses_usage(&out["usage"], OPENAI_USAGE);
    let req = env.openai_request();
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["stream_options"]["include_usage"], true, "{}", req.body);
}

async fn responses_tools_to_openai() {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = openai_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_tools", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["output_types"], json!(["function_call", "function_call"]));
    assert_eq!(calls_of(&out), weather_calls("call_paris", "call_rome"));
    assert_responses_usage(&out["usage"], OPENAI_USAGE);
    let req = env.openai_request();
    let tools = req.body["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(tools[0]["function"]["parameters"]["required"], json!(["city"]));
    assert_eq!(req.body["tool_choice"], "auto");
}

async fn responses_tools_stream_to_openai() {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = openai_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_tools_stream", GPT).await;
    assert_no_error(&out);
    assert_stream_shape(&out, "response.completed");
    assert_eq!(calls_of(&out), weather_calls("call_paris", "call_rome"));
    // The streamed argument deltas add up to the final arguments, item by item.
    for call in out["tool_calls"].as_array().expect("calls") {
        assert_eq!(out["streamed_arguments"][call["item_id"].as_str().expect("item id")], call["arguments"], "{out}");
    }
    assert_responses_usage(&out["usage"], OPENAI_USAGE);
}

async fn responses_round_trip_to_openai() {
    let reply = openai::Reply::text("No umbrella needed.").usage(OPENAI_USAGE);
    let env = openai_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_round_trip", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    // The fake already refused a tool message that answers no preceding tool call.
    let req = env.openai_request();
    let messages = req.body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().expect("role")).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"], "{}", req.body);
    assert_eq!(text_of(&messages[0]["content"]), "You are a terse weather assistant.");
    assert_eq!(messages[2]["tool_calls"][0]["id"], "call_paris");
    assert_eq!(messages[2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(messages[3]["tool_call_id"], "call_paris");
    assert!(text_of(&messages[3]["content"]).contains("\"temperature\": 21"), "{}", req.body);
    assert_eq!(text_of(&messages[4]["content"]), "Should I take an umbrella?");
}

async fn responses_error_from_openai() {
    let script = openai::Script::queue([openai::Behaviour::Error {
        status: 400,
        body: openai::error_body(
            CONTEXT_ERROR,
            "invalid_request_error",
            Some("messages"),
            Some("context_length_exceeded"),
        ),
        retry_after: None,
    }]);
    let env = Env::openai_only(Target::Gateway, script).await;
    let out = env.run(Sdk::OpenAi, "responses_error", GPT).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert_eq!(err["body"]["code"], "context_length_exceeded", "the provider's error goes through: {err}");
}

// ---- OpenAI SDK (Responses) → Anthropic provider ------------------------------------------------

async fn responses_to_anthropic() {
    let reply = anthropic::Reply::text("Hello from Claude.").usage(ANTHROPIC_USAGE);
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["text"], "Hello from Claude.");
    assert_responses_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
    let req = env.anthropic_request();
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.body["model"], CLAUDE);
    assert_eq!(req.body["max_tokens"], 64);
    assert_eq!(text_of(&req.body["system"]), "You are terse.");
    let messages = req.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(text_of(&messages[0]["content"]), "Say hello.");
    assert!(env.openai.requests().is_empty(), "the model picked the Anthropic backend");
}

async fn responses_stored_continued_on_anthropic() {
    let reply = anthropic::Reply::text("Hello, Ada.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "responses_stored", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["second_previous"], out["first"]["id"], "{out}");
    assert_eq!(out["retrieved_id"], out["first"]["id"]);
    assert_eq!(out["retrieved_text"], "Hello, Ada.");
    let items: Vec<(&str, &str)> = out["input_items"]
        .as_array()
        .expect("input_items")
        .iter()
        .map(|i| (i["role"].as_str().unwrap_or_default(), i["text"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(items, [("user", "My name is Ada."), ("assistant", "Hello, Ada."), ("user", "What is my name?")]);
    assert_eq!(out["after_delete"], json!({"class": "NotFoundError", "status": 404}));
    // The second request carried the whole conversation to Anthropic.
    let reqs = env.anthropic.requests();
    assert_eq!(reqs.len(), 2, "two answers; retrieve, list and delete reach no provider");
    let messages = reqs[1].body["messages"].as_array().expect("messages");
    let texts: Vec<String> = messages.iter().map(|m| text_of(&m["content"])).collect();
    assert_eq!(texts, ["My name is Ada.", "Hello, Ada.", "What is my name?"]);
}

async fn responses_stream_to_anthropic() {
    let reply = anthropic::Reply::blocks(vec![Block::text("Streamed from Claude.").chunks(3)])
        .usage(ANTHROPIC_USAGE)
        .stop("max_tokens");
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_stream_shape(&out, "response.incomplete");
    assert_eq!(out["streamed_text"], "Streamed from Claude.");
    assert_eq!(out["text"], "Streamed from Claude.");
    assert_eq!(out["status"], "incomplete", "max_tokens makes the response incomplete");
    assert_eq!(out["incomplete_details"]["reason"], "max_output_tokens");
    assert_responses_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
    assert_eq!(env.anthropic_request().body["stream"], true);
}

async fn responses_tools_to_anthropic() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["output_types"], json!(["message", "function_call", "function_call"]));
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_responses_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
    let req = env.anthropic_request();
    let tools = req.body["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "get_weather");
    assert_eq!(tools[0]["input_schema"]["required"], json!(["city"]));
    assert_eq!(req.body["tool_choice"]["type"], "auto");
}

async fn responses_tools_stream_to_anthropic() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_stream_shape(&out, "response.completed");
    assert_eq!(out["streamed_text"], "Checking both.");
    assert_eq!(out["output_types"], json!(["message", "function_call", "function_call"]));
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    for call in out["tool_calls"].as_array().expect("calls") {
        assert_eq!(out["streamed_arguments"][call["item_id"].as_str().expect("item id")], call["arguments"], "{out}");
    }
    assert_responses_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
}

/// The SDK's `responses.stream()` helper accumulates the events itself, refusing a delta for an
/// item or content part it was not told about; its final response must match the non-streamed one.
async fn responses_stream_helper_to_anthropic() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_stream_helper", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(out["output_types"], json!(["message", "function_call", "function_call"]));
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_responses_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
}

async fn responses_round_trip_to_anthropic() {
    let reply = anthropic::Reply::text("No umbrella needed.").usage(ANTHROPIC_USAGE);
    let env = anthropic_env(reply).await;
    let out = env.run(Sdk::OpenAi, "responses_round_trip", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    // The fake already refused an unanswered tool_use or an orphan tool_result.
    let req = env.anthropic_request();
    assert_eq!(text_of(&req.body["system"]), "You are a terse weather assistant.");
    let messages = req.body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().expect("role")).collect();
    assert_eq!(roles[..3], ["user", "assistant", "user"], "{}", req.body);
    let uses: Vec<&Value> =
        messages[1]["content"].as_array().expect("blocks").iter().filter(|b| b["type"] == "tool_use").collect();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["id"], "call_paris");
    assert_eq!(uses[0]["input"], json!({"city": "Paris"}));
    let results: Vec<&Value> =
        messages[2]["content"].as_array().expect("blocks").iter().filter(|b| b["type"] == "tool_result").collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["tool_use_id"], "call_paris");
    let after: String = messages[2..].iter().map(|m| text_of(&m["content"])).collect();
    assert!(after.contains("Should I take an umbrella?"), "{}", req.body);
}

async fn responses_error_from_anthropic() {
    let script = anthropic::Script::queue([anthropic::Behaviour::error(400, "invalid_request_error", TOO_LONG)]);
    let env = Env::anthropic_only(Target::Gateway, script).await;
    let out = env.run(Sdk::OpenAi, "responses_error", CLAUDE).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert!(err["message"].as_str().expect("message").contains(TOO_LONG), "{err}");
    assert_eq!(err["body"]["type"], "invalid_request_error", "OpenAI's error shape: {err}");
}
