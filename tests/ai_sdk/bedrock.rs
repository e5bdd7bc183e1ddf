//! The OpenAI and Anthropic SDKs through Sluice to the fake Bedrock Runtime: Converse and
//! ConverseStream (binary event-stream framing), every request SigV4-signed and checked by the
//! fake. Text, streams with usage, tools with streamed input, multi-turn histories, thinking,
//! errors (HTTP and mid-stream exceptions), a cut stream and a wrongly signed request. The usage
//! each SDK sees must equal what the fake reported, class by class.

use std::sync::Arc;

use serde_json::{Value, json};
use sluice::runtime::Runtime;

use super::support::fake_llm::bedrock::{self, Behaviour, FakeBedrock, Keys, Part, Reply, Script};
use super::support::fake_llm::{RecordedRequest, anthropic, openai};
use super::support::yaml::gateway_route;
use super::{
    CLIENT_KEY, Sdk, assert_anthropic_usage, assert_no_error, assert_openai_usage, calls_of, require_sdks, run_script,
    start_sluice, uses_of, weather_calls,
};

const REGION: &str = "eu-west-3";
const ACCESS_KEY: &str = "AKIAFAKESLUICE000001";
const SECRET_KEY: &str = "fAkEsEcReT/sluice+test/0123456789abcdefgh";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEFakeSessionToken==";
/// A model id with the `:` that must be percent-encoded in the path.
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
/// Served by a backend whose Secret holds the wrong secret key.
const BAD_KEYS: &str = "bad-keys";

const USAGE: bedrock::Usage =
    bedrock::Usage { input_tokens: 30, output_tokens: 11, cache_read_input_tokens: 12, cache_write_input_tokens: 5 };

fn as_openai(u: bedrock::Usage) -> openai::Usage {
    openai::Usage {
        prompt_tokens: u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens,
        completion_tokens: u.output_tokens,
        cached_tokens: u.cache_read_input_tokens,
        reasoning_tokens: 0,
    }
}

fn as_anthropic(u: bedrock::Usage) -> anthropic::Usage {
    anthropic::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: u.cache_write_input_tokens,
    }
}

fn config(port: u16) -> String {
    let refs = [
        "{group: sluice.dev, kind: AIBackend, name: bedrock}",
        "{group: sluice.dev, kind: AIBackend, name: bedrock-bad-keys}",
    ];
    gateway_route(80, "llm", &refs)
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: aws, namespace: default}}
stringData: {{accessKeyId: {ACCESS_KEY}, secretAccessKey: "{SECRET_KEY}", sessionToken: "{SESSION_TOKEN}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws-wrong, namespace: default}}
stringData: {{accessKeyId: {ACCESS_KEY}, secretAccessKey: not-the-secret, sessionToken: "{SESSION_TOKEN}"}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: bedrock, namespace: default}}
spec:
  provider:
    type: bedrock
    baseURL: http://127.0.0.1:{port}
    settings: {{region: {REGION}}}
    auth: {{secretRef: {{name: aws}}}}
  models: [{{name: "anthropic.*"}}]
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: bedrock-bad-keys, namespace: default}}
spec:
  provider:
    type: bedrock
    baseURL: http://127.0.0.1:{port}
    settings: {{region: {REGION}}}
    auth: {{secretRef: {{name: aws-wrong}}}}
  models: [{{name: {BAD_KEYS}, target: "{CLAUDE}"}}]
"#
        )
}

struct Env {
    bedrock: FakeBedrock,
    url: String,
    _rt: Arc<Runtime>,
}

impl Env {
    async fn start(script: Script) -> Env {
        require_sdks();
        let bedrock = FakeBedrock::start(script).await;
        let (rt, url) = start_sluice(&config(bedrock.port())).await;
        Env { bedrock, url, _rt: rt }
    }

    async fn reply(reply: Reply) -> Env {
        Env::start(script().reply(reply)).await
    }

    async fn run(&self, sdk: Sdk, scenario: &str, model: &str) -> Value {
        let out = run_script(sdk, scenario, &self.url, CLIENT_KEY, model).await;
        eprintln!("{sdk:?} {scenario} via Sluice to Bedrock: {out}");
        out
    }

    /// The one request the fake received: signed (the fake checked it), with the session
    /// token, and without the client's key.
    fn request(&self) -> RecordedRequest {
        let reqs = self.bedrock.requests();
        assert_eq!(reqs.len(), 1, "one upstream request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        let auth = req.header("authorization").expect("authorization");
        assert!(auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")), "{auth}");
        assert!(auth.contains(&format!("/{REGION}/bedrock/aws4_request")), "{auth}");
        assert_eq!(req.header("x-amz-security-token"), Some(SESSION_TOKEN));
        assert!(req.headers.iter().all(|(_, v)| !v.contains(CLIENT_KEY)), "the client's key stays home");
        req
    }
}

fn script() -> Script {
    Script::new(Keys {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
        session_token: Some(SESSION_TOKEN.into()),
        region: REGION.into(),
    })
}

fn path(stream: bool) -> String {
    let id = CLAUDE.replace(':', "%3A");
    if stream { format!("/model/{id}/converse-stream") } else { format!("/model/{id}/converse") }
}

fn tool_parts() -> Vec<Part> {
    vec![
        Part::text("Checking both.").chunks(2),
        Part::tool_use("tooluse_paris", "get_weather", json!({"city": "Paris", "unit": "celsius"})).chunks(4),
        Part::tool_use("tooluse_rome", "get_time", json!({"city": "Rome"})).chunks(2),
    ]
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

mod bedrock_provider {
    scenarios!(
        openai_sdk_to_bedrock_chat,
        openai_sdk_to_bedrock_stream,
        openai_sdk_to_bedrock_stream_usage,
        openai_sdk_to_bedrock_tools,
        openai_sdk_to_bedrock_tools_stream,
        openai_sdk_to_bedrock_multi_turn,
        openai_sdk_to_bedrock_errors,
        openai_sdk_to_bedrock_stream_exception,
        openai_sdk_to_bedrock_stream_cut,
        openai_sdk_to_bedrock_bad_signature,
        anthropic_sdk_to_bedrock_messages,
        anthropic_sdk_to_bedrock_stream,
        anthropic_sdk_to_bedrock_tools,
        anthropic_sdk_to_bedrock_tools_stream,
        anthropic_sdk_to_bedrock_multi_turn,
        anthropic_sdk_to_bedrock_thinking,
        anthropic_sdk_to_bedrock_error,
    );
}

async fn openai_sdk_to_bedrock_chat() {
    let env = Env::reply(Reply::text("Hello from Bedrock.").usage(USAGE)).await;
    let out = env.run(Sdk::OpenAi, "chat", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Bedrock.");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["model"], CLAUDE);
    assert_openai_usage(&out["usage"], as_openai(USAGE));
    let req = env.request();
    assert_eq!(req.path, path(false));
    assert_eq!(req.body["messages"], json!([{"role": "user", "content": [{"text": "Say hello."}]}]));
    assert_eq!(req.body["inferenceConfig"], json!({"maxTokens": 64}));
    assert!(req.body.get("model").is_none(), "the model is in the path: {}", req.body);
}

async fn openai_sdk_to_bedrock_stream() {
    let reply = Reply::parts(vec![Part::text("Streamed from Bedrock.").chunks(4)]).usage(USAGE).stop("max_tokens");
    let env = Env::reply(reply).await;
    let out = env.run(Sdk::OpenAi, "chat_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Bedrock.");
    assert_eq!(out["content_chunks"], 4, "one SDK chunk per Bedrock delta");
    assert_eq!(out["finish_reason"], "length");
    assert_eq!(out["usage_chunks"], 0, "no usage chunk the client did not ask for");
    assert_eq!(env.request().path, path(true));
}

async fn openai_sdk_to_bedrock_stream_usage() {
    let reply = Reply::parts(vec![Part::text("Counted by Bedrock.").chunks(3)]).usage(USAGE);
    let env = Env::reply(reply).await;
    let out = env.run(Sdk::OpenAi, "chat_stream_usage", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Counted by Bedrock.");
    assert_eq!(out["usage_chunks"], 1);
    assert_openai_usage(&out["usage"], as_openai(USAGE));
}

async fn openai_sdk_to_bedrock_tools() {
    let env = Env::reply(Reply::parts(tool_parts()).usage(USAGE)).await;
    let out = env.run(Sdk::OpenAi, "tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls_of(&out), weather_calls("tooluse_paris", "tooluse_rome"));
    assert_openai_usage(&out["usage"], as_openai(USAGE));
    let req = env.request();
    let tools = req.body["toolConfig"]["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["toolSpec"]["name"], "get_weather");
    assert_eq!(tools[0]["toolSpec"]["description"], "Current weather of a city");
    assert_eq!(tools[0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["city"]));
    assert_eq!(req.body["toolConfig"]["toolChoice"], json!({"auto": {}}));
}

async fn openai_sdk_to_bedrock_tools_stream() {
    let env = Env::reply(Reply::parts(tool_parts()).usage(USAGE)).await;
    let out = env.run(Sdk::OpenAi, "tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["text"], "Checking both.");
    // The input arrives in pieces and the SDK reassembles it.
    assert_eq!(calls_of(&out), weather_calls("tooluse_paris", "tooluse_rome"));
    assert_openai_usage(&out["usage"], as_openai(USAGE));
}

async fn openai_sdk_to_bedrock_multi_turn() {
    let env = Env::reply(Reply::text("No umbrella needed.").usage(USAGE)).await;
    let out = env.run(Sdk::OpenAi, "multi_turn", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.request();
    assert_eq!(req.body["system"], json!([{"text": "You are a terse weather assistant."}]));
    assert_eq!(
        req.body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "call_paris", "name": "get_weather", "input": {"city": "Paris"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_paris", "content": [{"json": {"temperature": 21, "sky": "clear"}}], "status": "success"}},
                {"text": "Should I take an umbrella?"}
            ]}
        ])
    );
}

async fn openai_sdk_to_bedrock_errors() {
    let message = "Input is too long for requested model.";
    let script = script().queue([Behaviour::error(400, "ValidationException", message), Behaviour::status(429)]);
    let env = Env::start(script).await;
    let out = env.run(Sdk::OpenAi, "error", CLAUDE).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    let text = err["message"].as_str().expect("message");
    assert!(text.contains(message) && text.contains("ValidationException"), "{err}");
    assert_eq!(err["body"]["type"], "invalid_request_error", "OpenAI's shape: {err}");
    let out = env.run(Sdk::OpenAi, "error", CLAUDE).await;
    assert_eq!(out["error"]["class"], "RateLimitError", "{out}");
    assert!(out["error"]["message"].as_str().expect("message").contains("ThrottlingException"), "{out}");
}

async fn openai_sdk_to_bedrock_stream_exception() {
    let reply = Reply::parts(vec![Part::text("one two three four").chunks(4)]);
    let behaviour = Behaviour::StreamException {
        reply,
        // messageStart and two deltas.
        after: 3,
        ty: "throttlingException".into(),
        message: "Too many tokens, please wait before trying again.".into(),
    };
    let env = Env::start(script().queue([behaviour])).await;
    let out = env.run(Sdk::OpenAi, "stream_cut", CLAUDE).await;
    assert_eq!(out["text"], "one two th", "{out}");
    let err = &out["error"];
    assert_eq!(err["class"], "APIError", "{out}");
    assert!(err["message"].as_str().expect("message").contains("throttlingException"), "{out}");
}

async fn openai_sdk_to_bedrock_stream_cut() {
    let reply = Reply::parts(vec![Part::text("one two three four").chunks(4)]);
    let env = Env::start(script().queue([Behaviour::Cut { reply, after: 3 }])).await;
    let out = env.run(Sdk::OpenAi, "stream_cut", CLAUDE).await;
    assert_eq!(out["text"], "one two th", "{out}");
    assert_eq!(out["error"]["class"], "APIError", "a cut stream is not a complete one: {out}");
}

async fn openai_sdk_to_bedrock_bad_signature() {
    let env = Env::start(script()).await;
    let out = env.run(Sdk::OpenAi, "error", BAD_KEYS).await;
    let err = &out["error"];
    assert_eq!(err["class"], "PermissionDeniedError", "{out}");
    assert_eq!(err["status"], 403);
    assert!(err["message"].as_str().expect("message").contains("InvalidSignatureException"), "{err}");
}

async fn anthropic_sdk_to_bedrock_messages() {
    let env = Env::reply(Reply::text("Hello from Bedrock.").usage(USAGE)).await;
    let out = env.run(Sdk::Anthropic, "messages", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Bedrock.");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let req = env.request();
    assert_eq!(req.path, path(false));
    assert_eq!(req.body["system"], json!([{"text": "You are a terse assistant."}]));
    assert_eq!(req.body["inferenceConfig"]["maxTokens"], 256);
}

async fn anthropic_sdk_to_bedrock_stream() {
    let reply = Reply::parts(vec![Part::text("Streamed from Bedrock.").chunks(4)]).usage(USAGE).stop("max_tokens");
    let env = Env::reply(reply).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Bedrock.");
    assert_eq!(out["streamed_text"], "Streamed from Bedrock.");
    assert_eq!(out["stop_reason"], "max_tokens");
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let texts = out["events"].as_array().expect("events").iter().filter(|e| *e == "text").count();
    assert_eq!(texts, 4, "{out}");
    assert_eq!(env.request().path, path(true));
}

async fn anthropic_sdk_to_bedrock_tools() {
    let env = Env::reply(Reply::parts(tool_parts()).usage(USAGE)).await;
    let out = env.run(Sdk::Anthropic, "tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(out["block_types"], json!(["text", "tool_use", "tool_use"]));
    assert_eq!(uses_of(&out), weather_calls("tooluse_paris", "tooluse_rome"));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    assert_eq!(env.request().body["toolConfig"]["toolChoice"], json!({"auto": {}}));
}

async fn anthropic_sdk_to_bedrock_tools_stream() {
    let env = Env::reply(Reply::parts(tool_parts()).usage(USAGE)).await;
    let out = env.run(Sdk::Anthropic, "tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(uses_of(&out), weather_calls("tooluse_paris", "tooluse_rome"));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
}

async fn anthropic_sdk_to_bedrock_multi_turn() {
    let env = Env::reply(Reply::text("No umbrella needed.").usage(USAGE)).await;
    let out = env.run(Sdk::Anthropic, "multi_turn", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.request();
    assert_eq!(
        req.body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "toolu_paris", "content": [{"json": {"temperature": 21, "sky": "clear"}}], "status": "success"}},
                {"text": "Should I take an umbrella?"}
            ]}
        ])
    );
}

async fn anthropic_sdk_to_bedrock_thinking() {
    let reply =
        Reply::parts(vec![Part::reasoning("The user greets me; greet back.", "EqQBsig-bedrock"), Part::text("Hello!")])
            .usage(USAGE);
    let env = Env::reply(reply).await;
    let out = env.run(Sdk::Anthropic, "thinking", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello!");
    assert_eq!(
        out["thinking"],
        json!([{"thinking": "The user greets me; greet back.", "signature": "EqQBsig-bedrock"}])
    );
    assert_eq!(out["block_types"], json!(["thinking", "text"]));
    assert_anthropic_usage(&out["usage"], as_anthropic(USAGE));
    let req = env.request();
    assert_eq!(req.body["inferenceConfig"]["maxTokens"], 2048);
    assert_eq!(
        req.body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    );
}

async fn anthropic_sdk_to_bedrock_error() {
    let message = "Too many requests, please wait before trying again.";
    let env = Env::start(script().queue([Behaviour::error(429, "ThrottlingException", message)])).await;
    let out = env.run(Sdk::Anthropic, "error", CLAUDE).await;
    let err = &out["error"];
    assert_eq!(err["class"], "RateLimitError", "{out}");
    assert_eq!(err["status"], 429);
    assert_eq!(err["body"]["error"]["type"], "rate_limit_error", "{err}");
    assert!(err["body"]["error"]["message"].as_str().expect("message").contains(message), "{err}");
}

#[test]
fn the_configuration_loads() {
    let loaded = sluice::config::parse_text("bedrock.yaml", &config(1));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
}
