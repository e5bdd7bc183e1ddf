//! The official `openai` and `anthropic` Python SDKs (tests/python/, pinned in
//! tests/python/requirements.txt) driven against the fake providers of `support::fake_llm`.
//!
//! Each scenario runs in two ways:
//! - `direct_*`: the SDK talks to the fake itself. This proves the fakes (and the scenario
//!   scripts) faithful to what the official SDKs accept; it needs no gateway.
//! - `gateway_*`: the SDK talks to an in-process Sluice whose HTTPRoute sends to `AIBackend`s
//!   of `type: openai` / `type: anthropic` pointing at the fakes. Same-format scenarios must
//!   give the SDK exactly what the direct run gives it; cross-format ones (OpenAI SDK → Anthropic
//!   provider and back) must translate text, tool calls, stop reasons, usage and errors. These
//!   always run.
//!
//! Google's `google-genai` SDK goes through the Gemini front door to Gemini, OpenAI and
//! Anthropic providers, and straight to the fake Gemini (`ai_sdk/genai.rs`).
//!
//! The Gemini and Azure OpenAI providers have gateway-only scenarios of their own
//! (`ai_sdk/gemini.rs`, `ai_sdk/azure.rs`, in the environment of `ai_sdk/providers.rs`), and so
//! have Bedrock (`ai_sdk/bedrock.rs`), Vertex AI (`ai_sdk/vertex.rs`) and the OpenAI SDK's
//! Responses API (`ai_sdk/responses.rs`).
//!
//! Without the SDKs (`python3 -c "import openai, anthropic"` fails) every test fails, saying
//! what to install.

mod support;

#[path = "ai_sdk/azure.rs"]
mod azure_sdk;
#[path = "ai_sdk/bedrock.rs"]
mod bedrock_sdk;
#[path = "ai_sdk/gemini.rs"]
mod gemini_sdk;
#[path = "ai_sdk/genai.rs"]
mod genai_sdk;
#[path = "ai_sdk/policies.rs"]
mod policies_sdk;
#[path = "ai_sdk/providers.rs"]
mod providers;
#[path = "ai_sdk/responses.rs"]
mod responses_sdk;
#[path = "ai_sdk/vertex.rs"]
mod vertex_sdk;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::runtime::{BindMode, Runtime};
use support::fake_llm::RecordedRequest;
use support::fake_llm::anthropic::{self, Block, FakeAnthropic};
use support::fake_llm::openai::{self, FakeOpenAi, ToolCall};

// ---- environment checks ----------------------------------------------------------------------

/// Fails the test, saying what to install, unless python3 can import both SDKs. A test never
/// passes by not running.
fn require_sdks() {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import openai, anthropic, google.genai"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        present,
        "python3 cannot import the `openai`, `anthropic` and `google-genai` SDKs: run `pip install -r tests/python/requirements.txt` \
         (or `bash scripts/test.sh`, which installs them)"
    );
}

// ---- running the scenario scripts ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sdk {
    OpenAi,
    Anthropic,
    /// Google's `google-genai`, through the Gemini front door.
    Genai,
}

impl Sdk {
    fn script(self) -> &'static str {
        match self {
            Sdk::OpenAi => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_sdk.py"),
            Sdk::Anthropic => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/anthropic_sdk.py"),
            Sdk::Genai => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/genai_sdk.py"),
        }
    }
}

/// Runs `python3 <script> <scenario>` and parses the JSON it prints.
async fn run_script(sdk: Sdk, scenario: &str, base_url: &str, api_key: &str, model: &str) -> Value {
    let scenario = scenario.to_owned();
    let base_url = base_url.to_owned();
    let api_key = api_key.to_owned();
    let model = model.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("python3");
        cmd.arg(sdk.script())
            .arg(&scenario)
            .env("SLUICE_BASE_URL", &base_url)
            .env("SLUICE_API_KEY", &api_key)
            .env("SLUICE_MODEL", &model)
            // The embeddings scenarios read their model apart (a chat model is still set).
            .env(
                "SLUICE_EMBEDDING_MODEL",
                if model.contains("embedding") { model.as_str() } else { "text-embedding-3-small" },
            )
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().expect("start python3");
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for python3") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{scenario} ({sdk:?}) did not finish within 90 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
        child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert!(status.success(), "{scenario} ({sdk:?}) failed with {status}:\n{err}\n{out}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{scenario} ({sdk:?}) printed no JSON ({e}):\n{out}\n{err}"))
    })
    .await
    .expect("join the script runner")
}

// ---- the environment: fakes, and Sluice in front of them ------------------------------------

const OPENAI_UPSTREAM_KEY: &str = "sk-fake-upstream-openai-0123";
const ANTHROPIC_UPSTREAM_KEY: &str = "sk-ant-fake-upstream-4567";
/// What the SDKs send to Sluice (the AIBackends use their Secrets' keys upstream).
const CLIENT_KEY: &str = "sk-sluice-client";

const GPT: &str = "gpt-4o-mini";
const CLAUDE: &str = "claude-sonnet-4-6";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The SDK talks to the fake of its own format.
    Direct,
    /// The SDK talks to Sluice.
    Gateway,
}

struct Env {
    target: Target,
    openai: FakeOpenAi,
    anthropic: FakeAnthropic,
    /// Sluice's listener (gateway runs).
    gateway: Option<String>,
    _rt: Option<Arc<Runtime>>,
}

/// `AIBackend.spec.provider.baseURL` for a fake: as docs/ai.md says, it includes the API
/// version path (the catalog's `https://api.openai.com/v1`, `https://api.anthropic.com/v1`).
fn provider_base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v1")
}

fn gateway_config(openai_port: u16, anthropic_port: u16) -> String {
    let refs =
        ["{group: sluice.dev, kind: AIBackend, name: openai}", "{group: sluice.dev, kind: AIBackend, name: anthropic}"];
    support::yaml::gateway_route(80, "llm", &refs)
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: openai-key, namespace: default}}
stringData: {{apiKey: {OPENAI_UPSTREAM_KEY}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: anthropic-key, namespace: default}}
stringData: {{apiKey: {ANTHROPIC_UPSTREAM_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: openai, namespace: default}}
spec:
  provider:
    type: openai
    baseURL: {openai_url}
    auth: {{secretRef: {{name: openai-key}}}}
  models: [{{name: gpt-4o-mini}}, {{name: gpt-4o}}, {{name: text-embedding-3-small}}]
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: anthropic, namespace: default}}
spec:
  provider:
    type: anthropic
    baseURL: {anthropic_url}
    auth: {{secretRef: {{name: anthropic-key}}}}
  models: [{{name: claude-sonnet-4-6}}, {{name: claude-haiku-4-5}}]
"#,
            openai_url = provider_base_url(openai_port),
            anthropic_url = provider_base_url(anthropic_port),
        )
}

/// One route, four OpenAI providers in four failover groups.
fn failover_config(ports: &[u16]) -> String {
    let groups: String = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            format!(
                "    - providers:\n        - {{name: p{i}, type: openai, baseURL: \"{}\", auth: {{secretRef: {{name: openai-key}}}}}}\n",
                provider_base_url(*port)
            )
        })
        .collect();
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: chain}"])
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: openai-key, namespace: default}}
stringData: {{apiKey: {OPENAI_UPSTREAM_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: chain, namespace: default}}
spec:
  groups:
{groups}"#
        )
}

/// Loads `config` into a new in-process Sluice; returns it and its listener's base URL.
async fn start_sluice(config: &str) -> (Arc<Runtime>, String) {
    let loaded = sluice::config::parse_text("ai.yaml", config);
    assert!(loaded.errors.is_empty(), "the configuration does not load: {:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("the gateway listener is bound");
    (rt, format!("http://{addr}"))
}

impl Env {
    /// The fakes with these scripts (their keys set), and Sluice in front of them for a gateway
    /// run (fails without the SDKs).
    async fn start(target: Target, openai: openai::Script, anthropic: anthropic::Script) -> Env {
        require_sdks();
        let openai = FakeOpenAi::start(openai.api_key(OPENAI_UPSTREAM_KEY)).await;
        let anthropic = FakeAnthropic::start(anthropic.api_key(ANTHROPIC_UPSTREAM_KEY)).await;
        let (rt, gateway) = match target {
            Target::Direct => (None, None),
            Target::Gateway => {
                let (rt, url) = start_sluice(&gateway_config(openai.port(), anthropic.port())).await;
                (Some(rt), Some(url))
            }
        };
        Env { target, openai, anthropic, gateway, _rt: rt }
    }

    async fn openai_only(target: Target, script: openai::Script) -> Env {
        Env::start(target, script, anthropic::Script::default()).await
    }

    async fn anthropic_only(target: Target, script: anthropic::Script) -> Env {
        Env::start(target, openai::Script::default(), script).await
    }

    /// Runs a scenario of `sdk` with `model`; a direct run goes to the fake of the SDK's format.
    async fn run(&self, sdk: Sdk, scenario: &str, model: &str) -> Value {
        let (url, key) = match (&self.gateway, sdk) {
            (Some(url), _) => (url.clone(), CLIENT_KEY),
            (None, Sdk::OpenAi) => (self.openai.base_url(), OPENAI_UPSTREAM_KEY),
            (None, Sdk::Anthropic) => (self.anthropic.base_url(), ANTHROPIC_UPSTREAM_KEY),
            (None, Sdk::Genai) => panic!("direct google-genai runs go to the fake Gemini (ai_sdk/genai.rs)"),
        };
        let out = run_script(sdk, scenario, &url, key, model).await;
        eprintln!("{sdk:?} {scenario} via {:?}: {out}", self.target);
        out
    }

    /// The one request the OpenAI fake received (asserting there was exactly one).
    fn openai_request(&self) -> RecordedRequest {
        let reqs = self.openai.requests();
        assert_eq!(reqs.len(), 1, "one upstream request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        assert_eq!(req.header("authorization"), Some(format!("Bearer {OPENAI_UPSTREAM_KEY}").as_str()));
        assert!(req.header("x-api-key").is_none_or(|v| !v.contains(CLIENT_KEY)), "the client's key stays home");
        req
    }

    /// The one request the Anthropic fake received (asserting there was exactly one).
    fn anthropic_request(&self) -> RecordedRequest {
        let reqs = self.anthropic.requests();
        assert_eq!(reqs.len(), 1, "one upstream request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        // `x-api-key`, or a bearer token as the official Python SDK 2.x sends it.
        let key =
            req.header("x-api-key").or_else(|| req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")));
        assert_eq!(key, Some(ANTHROPIC_UPSTREAM_KEY), "{:?}", req.headers);
        assert!(req.header("anthropic-version").is_some());
        for name in ["x-api-key", "authorization"] {
            assert!(req.header(name).is_none_or(|v| !v.contains(CLIENT_KEY)), "the client's key stays home");
        }
        req
    }
}

// ---- expected figures ------------------------------------------------------------------------

const OPENAI_USAGE: openai::Usage =
    openai::Usage { prompt_tokens: 31, completion_tokens: 9, cached_tokens: 12, reasoning_tokens: 3 };

const ANTHROPIC_USAGE: anthropic::Usage = anthropic::Usage {
    input_tokens: 25,
    output_tokens: 14,
    cache_read_input_tokens: 100,
    cache_creation_input_tokens: 7,
};

/// Asserts the usage an OpenAI SDK parsed, class by class.
fn assert_openai_usage(seen: &Value, want: openai::Usage) {
    assert_eq!(seen["prompt_tokens"], want.prompt_tokens, "prompt_tokens in {seen}");
    assert_eq!(seen["completion_tokens"], want.completion_tokens, "completion_tokens in {seen}");
    assert_eq!(seen["total_tokens"], want.total_tokens(), "total_tokens in {seen}");
    assert_eq!(seen["prompt_tokens_details"]["cached_tokens"], want.cached_tokens, "cached_tokens in {seen}");
    if want.reasoning_tokens > 0 {
        assert_eq!(seen["completion_tokens_details"]["reasoning_tokens"], want.reasoning_tokens, "in {seen}");
    }
}

/// Asserts the usage an Anthropic SDK parsed, class by class.
fn assert_anthropic_usage(seen: &Value, want: anthropic::Usage) {
    assert_eq!(seen["input_tokens"], want.input_tokens, "input_tokens in {seen}");
    assert_eq!(seen["output_tokens"], want.output_tokens, "output_tokens in {seen}");
    assert_eq!(seen["cache_read_input_tokens"], want.cache_read_input_tokens, "cache_read_input_tokens in {seen}");
    let creation = seen["cache_creation_input_tokens"].as_u64().unwrap_or(0);
    assert_eq!(creation, want.cache_creation_input_tokens, "cache_creation_input_tokens in {seen}");
}

/// Anthropic's usage as an OpenAI client must see it: OpenAI's `prompt_tokens` counts every
/// input token (Anthropic's `input_tokens` excludes cache reads and writes), and
/// `cached_tokens` are the cache reads.
fn anthropic_usage_as_openai(u: anthropic::Usage) -> openai::Usage {
    openai::Usage {
        prompt_tokens: u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens,
        completion_tokens: u.output_tokens,
        cached_tokens: u.cache_read_input_tokens,
        reasoning_tokens: 0,
    }
}

/// OpenAI's usage as an Anthropic client must see it: cached tokens move out of
/// `input_tokens` into `cache_read_input_tokens`.
fn openai_usage_as_anthropic(u: openai::Usage) -> anthropic::Usage {
    anthropic::Usage {
        input_tokens: u.prompt_tokens - u.cached_tokens,
        output_tokens: u.completion_tokens,
        cache_read_input_tokens: u.cached_tokens,
        cache_creation_input_tokens: 0,
    }
}

/// The text of a message `content` (a string, or text blocks / parts).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().concat(),
        _ => String::new(),
    }
}

fn assert_no_error(out: &Value) {
    assert!(out.get("error").is_none_or(Value::is_null), "the SDK raised: {out}");
}

fn openai_tool_calls() -> Vec<ToolCall> {
    vec![
        ToolCall::new("call_paris", "get_weather", r#"{"city":"Paris","unit":"celsius"}"#).chunks(4),
        ToolCall::new("call_rome", "get_time", r#"{"city":"Rome"}"#).chunks(2),
    ]
}

fn anthropic_tool_blocks() -> Vec<Block> {
    vec![
        Block::text("Checking both.").chunks(2),
        Block::tool_use("toolu_paris", "get_weather", json!({"city": "Paris", "unit": "celsius"})).chunks(4),
        Block::tool_use("toolu_rome", "get_time", json!({"city": "Rome"})).chunks(2),
    ]
}

/// The tool calls an OpenAI SDK result lists, arguments parsed.
fn calls_of(out: &Value) -> Vec<(String, String, Value)> {
    out["tool_calls"]
        .as_array()
        .expect("tool_calls")
        .iter()
        .map(|c| {
            let args = c["arguments"].as_str().expect("arguments");
            let args = serde_json::from_str(args).unwrap_or_else(|e| panic!("arguments {args:?} are not JSON: {e}"));
            (c["id"].as_str().expect("id").to_owned(), c["name"].as_str().expect("name").to_owned(), args)
        })
        .collect()
}

/// The tool uses an Anthropic SDK result lists.
fn uses_of(out: &Value) -> Vec<(String, String, Value)> {
    out["tool_uses"]
        .as_array()
        .expect("tool_uses")
        .iter()
        .map(|u| {
            (u["id"].as_str().expect("id").to_owned(), u["name"].as_str().expect("name").to_owned(), u["input"].clone())
        })
        .collect()
}

fn weather_calls(paris: &str, rome: &str) -> Vec<(String, String, Value)> {
    vec![
        (paris.to_owned(), "get_weather".to_owned(), json!({"city": "Paris", "unit": "celsius"})),
        (rome.to_owned(), "get_time".to_owned(), json!({"city": "Rome"})),
    ]
}

/// Generates `direct_NAME` and `gateway_NAME` tests from `async fn NAME(target: Target)`.
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Target::Direct).await;
                }
            )*
        }
        mod gateway {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Target::Gateway).await;
                }
            )*
        }
    };
}

both_ways!(
    openai_chat,
    openai_chat_stream,
    openai_chat_stream_usage,
    openai_tools,
    openai_tools_stream,
    openai_multi_turn,
    openai_error,
    openai_stream_cut,
    openai_embeddings,
    openai_models,
    anthropic_messages,
    anthropic_messages_stream,
    anthropic_messages_stream_raw,
    anthropic_tools,
    anthropic_tools_stream,
    anthropic_multi_turn,
    anthropic_thinking,
    anthropic_error,
    anthropic_stream_error,
    anthropic_stream_cut,
    anthropic_count_tokens,
);

// ---- OpenAI SDK → OpenAI provider --------------------------------------------------------------

async fn openai_chat(target: Target) {
    let reply = openai::Reply::text("Hello! How can I help?").usage(OPENAI_USAGE).model("gpt-4o-mini-2024-07-18");
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello! How can I help?");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["model"], "gpt-4o-mini-2024-07-18");
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
    let req = env.openai_request();
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.body["model"], GPT);
    assert_eq!(req.body["messages"], json!([{"role": "user", "content": "Say hello."}]));
    assert_eq!(req.body["max_tokens"], 64);
}

async fn openai_chat_stream(target: Target) {
    let reply = openai::Reply::text("Hello, streaming world!").chunks(4).usage(OPENAI_USAGE);
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello, streaming world!");
    assert_eq!(out["content_chunks"], 4, "one SDK chunk per upstream chunk");
    assert_eq!(out["finish_reason"], "stop");
    // The client did not ask for usage: no usage chunk reaches it.
    assert_eq!(out["usage"], Value::Null);
    assert_eq!(out["usage_chunks"], 0);
    assert_eq!(out["empty_choice_chunks"], 0);
    let req = env.openai_request();
    assert_eq!(req.body["stream"], true);
    match target {
        Target::Direct => assert!(req.body.get("stream_options").is_none()),
        // Sluice asks the provider for usage anyway (token accounting) and strips the chunk.
        Target::Gateway => assert_eq!(req.body["stream_options"]["include_usage"], true, "{}", req.body),
    }
}

async fn openai_chat_stream_usage(target: Target) {
    let reply = openai::Reply::text("Counting tokens as we go.").chunks(5).usage(OPENAI_USAGE);
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream_usage", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Counting tokens as we go.");
    assert_eq!(out["content_chunks"], 5);
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage_chunks"], 1);
    assert_eq!(out["empty_choice_chunks"], 1);
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
    assert_eq!(env.openai_request().body["stream_options"]["include_usage"], true);
}

async fn openai_tools(target: Target) {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "tools", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], Value::Null);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(calls_of(&out), weather_calls("call_paris", "call_rome"));
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
    let req = env.openai_request();
    assert_eq!(req.body["tools"].as_array().map(Vec::len), Some(2));
    assert_eq!(req.body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(req.body["tool_choice"], "auto");
}

async fn openai_tools_stream(target: Target) {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "tools_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "");
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(calls_of(&out), weather_calls("call_paris", "call_rome"));
    assert_openai_usage(&out["usage"], OPENAI_USAGE);
}

async fn openai_multi_turn(target: Target) {
    let reply = openai::Reply::text("No umbrella needed.").usage(OPENAI_USAGE);
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "multi_turn", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.openai_request();
    let roles: Vec<&str> =
        req.body["messages"].as_array().expect("messages").iter().map(|m| m["role"].as_str().expect("role")).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(req.body["messages"][0]["content"], "You are a terse weather assistant.");
    assert_eq!(req.body["messages"][2]["tool_calls"][0]["id"], "call_paris");
    assert_eq!(req.body["messages"][3]["tool_call_id"], "call_paris");
}

const CONTEXT_ERROR: &str = "This model's maximum context length is 128000 tokens. However, your messages resulted \
                             in 130000 tokens. Please reduce the length of the messages.";

async fn openai_error(target: Target) {
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
    let env = Env::openai_only(target, script).await;
    let out = env.run(Sdk::OpenAi, "error", GPT).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert!(err["message"].as_str().expect("message").contains("maximum context length is 128000"), "{err}");
    assert_eq!(err["body"]["code"], "context_length_exceeded", "{err}");
    env.openai_request();
}

async fn openai_stream_cut(target: Target) {
    // Role chunk and two of four text chunks arrive; then the connection drops.
    let reply = openai::Reply::text("one two three four").chunks(4);
    let script = openai::Script::queue([openai::Behaviour::Cut { reply, after: 3 }]);
    let env = Env::openai_only(target, script).await;
    let out = env.run(Sdk::OpenAi, "stream_cut", GPT).await;
    let text = out["text"].as_str().expect("text");
    assert!("one two three four".starts_with(text) && text.len() < "one two three four".len(), "{out}");
    assert!(!out["error"].is_null(), "a cut stream ends with an error, not a clean end: {out}");
    if target == Target::Gateway {
        // Sluice ends the stream with an error event in OpenAI's format (`data: {"error": …}`),
        // which the SDK raises as an APIError carrying that body.
        assert_eq!(out["error"]["class"], "APIError", "{out}");
        assert!(out["error"]["body"]["message"].is_string(), "{out}");
    }
}

async fn openai_embeddings(target: Target) {
    let reply = openai::Reply::text("").usage(openai::Usage::new(6, 0));
    let env = Env::openai_only(target, openai::Script::reply(reply)).await;
    for scenario in ["embeddings", "embeddings_float"] {
        let out = env.run(Sdk::OpenAi, scenario, GPT).await;
        assert_no_error(&out);
        let inputs: &[&str] = if scenario == "embeddings" { &["alpha", "beta"] } else { &["alpha"] };
        let want: Vec<Vec<f64>> =
            inputs.iter().map(|t| openai::embedding_vector(t, 8).into_iter().map(f64::from).collect()).collect();
        let got: Vec<Vec<f64>> = serde_json::from_value(out["vectors"].clone()).expect("vectors");
        assert_eq!(got, want, "{scenario}");
        assert_eq!(out["usage"]["prompt_tokens"], 6);
        assert_eq!(out["usage"]["total_tokens"], 6);
    }
    let reqs = env.openai.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.path == "/v1/embeddings"));
    // The SDK asks for base64 unless told otherwise; the gateway must not change that.
    assert_eq!(reqs[0].body["encoding_format"], "base64");
    assert_eq!(reqs[1].body["encoding_format"], "float");
}

async fn openai_models(target: Target) {
    let env = Env::openai_only(target, openai::Script::default()).await;
    let out = env.run(Sdk::OpenAi, "models", GPT).await;
    assert_no_error(&out);
    let ids: Vec<&str> = out["ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id")).collect();
    match target {
        Target::Direct => assert_eq!(ids, ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]),
        // The union of what the route's backends serve.
        Target::Gateway => {
            for id in ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", CLAUDE, "claude-haiku-4-5"] {
                assert!(ids.contains(&id), "{id} missing from {ids:?}");
            }
        }
    }
}

// ---- Anthropic SDK → Anthropic provider --------------------------------------------------------

async fn anthropic_messages(target: Target) {
    let reply = anthropic::Reply::text("Hello! How can I help?").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello! How can I help?");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_eq!(out["model"], CLAUDE);
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
    let req = env.anthropic_request();
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.body["system"], "You are a terse assistant.");
    assert_eq!(req.body["max_tokens"], 256);
    assert_eq!(req.body["messages"], json!([{"role": "user", "content": "Say hello."}]));
}

async fn anthropic_messages_stream(target: Target) {
    let reply = anthropic::Reply::blocks(vec![Block::text("Hello, streaming world!").chunks(4)]).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello, streaming world!");
    assert_eq!(out["streamed_text"], "Hello, streaming world!");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
    let texts = out["events"].as_array().expect("events").iter().filter(|e| *e == "text").count();
    assert_eq!(texts, 4, "one SDK text event per upstream delta: {out}");
    assert_eq!(env.anthropic_request().body["stream"], true);
}

async fn anthropic_messages_stream_raw(target: Target) {
    let reply = anthropic::Reply::text("Raw events.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages_stream_raw", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Raw events.");
    assert_eq!(out["stop_reason"], "end_turn");
    // The SDK drops `ping`; everything else arrives in the documented order.
    assert_eq!(
        out["events"],
        json!([
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ])
    );
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
}

async fn anthropic_tools(target: Target) {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(out["block_types"], json!(["text", "tool_use", "tool_use"]));
    assert_eq!(uses_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
    let req = env.anthropic_request();
    assert_eq!(req.body["tools"][0]["name"], "get_weather");
    assert_eq!(req.body["tool_choice"], json!({"type": "auto"}));
}

async fn anthropic_tools_stream(target: Target) {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(uses_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
    assert!(out["events"].as_array().expect("events").iter().any(|e| e == "input_json"), "{out}");
}

async fn anthropic_multi_turn(target: Target) {
    let reply = anthropic::Reply::text("No umbrella needed.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "multi_turn", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    let req = env.anthropic_request();
    assert_eq!(req.body["system"], "You are a terse weather assistant.");
    assert_eq!(req.body["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(req.body["messages"][1]["content"][1]["id"], "toolu_paris");
    assert_eq!(req.body["messages"][2]["content"][0]["tool_use_id"], "toolu_paris");
}

async fn anthropic_thinking(target: Target) {
    let reply = anthropic::Reply::blocks(vec![
        Block::thinking("The user greets me; greet back.", "EqQBCgIYAhIM-fake-signature"),
        Block::text("Hello!"),
    ])
    .usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "thinking", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello!");
    assert_eq!(
        out["thinking"],
        json!([{"thinking": "The user greets me; greet back.", "signature": "EqQBCgIYAhIM-fake-signature"}])
    );
    assert_eq!(out["block_types"], json!(["thinking", "text"]));
    assert_anthropic_usage(&out["usage"], ANTHROPIC_USAGE);
    let req = env.anthropic_request();
    assert_eq!(req.body["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
}

const TOO_LONG: &str = "prompt is too long: 210000 tokens > 200000 maximum";

async fn anthropic_error(target: Target) {
    let script = anthropic::Script::queue([anthropic::Behaviour::error(400, "invalid_request_error", TOO_LONG)]);
    let env = Env::anthropic_only(target, script).await;
    let out = env.run(Sdk::Anthropic, "error", CLAUDE).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert_eq!(err["body"]["type"], "error");
    assert_eq!(err["body"]["error"]["type"], "invalid_request_error");
    assert!(err["body"]["error"]["message"].as_str().expect("message").contains(TOO_LONG), "{err}");
    env.anthropic_request();
}

async fn anthropic_stream_error(target: Target) {
    // message_start, content_block_start, ping, one delta; then `event: error` (overloaded).
    let script = anthropic::Script::queue([anthropic::Behaviour::StreamError {
        reply: anthropic::Reply::text("partial answer here"),
        after: 4,
        error: anthropic::status_error(529),
    }]);
    let env = Env::anthropic_only(target, script).await;
    let out = env.run(Sdk::Anthropic, "error_stream", CLAUDE).await;
    let err = &out["error"];
    // The SDK raises the in-stream error with the stream's own status (200).
    assert_eq!(err["class"], "APIStatusError", "{out}");
    assert_eq!(err["body"]["error"]["type"], "overloaded_error", "{out}");
}

async fn anthropic_stream_cut(target: Target) {
    let reply = anthropic::Reply::blocks(vec![Block::text("one two three four").chunks(4)]);
    // message_start, content_block_start, ping, two deltas; then the connection drops.
    let script = anthropic::Script::queue([anthropic::Behaviour::Cut { reply, after: 5 }]);
    let env = Env::anthropic_only(target, script).await;
    let out = env.run(Sdk::Anthropic, "stream_cut", CLAUDE).await;
    let text = out["text"].as_str().expect("text");
    assert!("one two three four".starts_with(text) && text.len() < "one two three four".len(), "{out}");
    assert!(!out["error"].is_null(), "a cut stream ends with an error, not a clean end: {out}");
    if target == Target::Gateway {
        // Sluice ends the stream with `event: error` in Anthropic's format, which the SDK
        // raises as an APIStatusError carrying that body.
        assert_eq!(out["error"]["body"]["type"], "error", "{out}");
        assert!(out["error"]["body"]["error"]["type"].is_string(), "{out}");
    }
    assert!(!out["events"].as_array().expect("events").iter().any(|e| e == "message_stop"), "{out}");
}

async fn anthropic_count_tokens(target: Target) {
    let reply = anthropic::Reply::text("").usage(anthropic::Usage::new(42, 0));
    let env = Env::anthropic_only(target, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "count_tokens", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["input_tokens"], 42);
    let req = env.anthropic_request();
    assert_eq!(req.path, "/v1/messages/count_tokens");
    assert_eq!(req.body["tools"].as_array().map(Vec::len), Some(2));
}

// ---- across formats (gateway only) ------------------------------------------------------------

macro_rules! gateway_only {
    ($($name:ident),* $(,)?) => {
        mod cross {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name().await;
                }
            )*
        }
    };
}

gateway_only!(
    openai_sdk_to_anthropic_chat,
    openai_sdk_to_anthropic_stream,
    openai_sdk_to_anthropic_stream_usage,
    openai_sdk_to_anthropic_tools,
    openai_sdk_to_anthropic_tools_stream,
    openai_sdk_to_anthropic_multi_turn,
    openai_sdk_to_anthropic_error,
    anthropic_sdk_to_openai_messages,
    anthropic_sdk_to_openai_stream,
    anthropic_sdk_to_openai_tools,
    anthropic_sdk_to_openai_tools_stream,
    anthropic_sdk_to_openai_multi_turn,
    anthropic_sdk_to_openai_error,
    openai_sdk_failover,
);

async fn openai_sdk_to_anthropic_chat() {
    let reply = anthropic::Reply::text("Hello from Claude.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Claude.");
    assert_eq!(out["finish_reason"], "stop");
    assert_openai_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
    let req = env.anthropic_request();
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.body["model"], CLAUDE);
    assert_eq!(req.body["max_tokens"], 64);
    let messages = req.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(text_of(&messages[0]["content"]), "Say hello.");
    assert!(env.openai.requests().is_empty(), "the model picked the Anthropic backend");
}

async fn openai_sdk_to_anthropic_stream() {
    let reply = anthropic::Reply::blocks(vec![Block::text("Streamed from Claude.").chunks(3)])
        .usage(ANTHROPIC_USAGE)
        .stop("max_tokens");
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Claude.");
    assert_eq!(out["finish_reason"], "length", "max_tokens becomes length");
    assert_eq!(out["usage_chunks"], 0, "no usage chunk the client did not ask for");
    assert_eq!(out["empty_choice_chunks"], 0);
    assert_eq!(env.anthropic_request().body["stream"], true);
}

async fn openai_sdk_to_anthropic_stream_usage() {
    let reply = anthropic::Reply::blocks(vec![Block::text("Counted by Claude.").chunks(3)]).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "chat_stream_usage", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Counted by Claude.");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage_chunks"], 1);
    assert_eq!(out["empty_choice_chunks"], 1, "the usage chunk has empty choices");
    assert_openai_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
}

async fn openai_sdk_to_anthropic_tools() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "tools", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_openai_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
    let req = env.anthropic_request();
    let tools = req.body["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "get_weather");
    assert_eq!(tools[0]["input_schema"]["required"], json!(["city"]));
    assert_eq!(req.body["tool_choice"]["type"], "auto");
}

async fn openai_sdk_to_anthropic_tools_stream() {
    let reply = anthropic::Reply::blocks(anthropic_tool_blocks()).usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["text"], "Checking both.");
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    assert_openai_usage(&out["usage"], anthropic_usage_as_openai(ANTHROPIC_USAGE));
}

async fn openai_sdk_to_anthropic_multi_turn() {
    let reply = anthropic::Reply::text("No umbrella needed.").usage(ANTHROPIC_USAGE);
    let env = Env::anthropic_only(Target::Gateway, anthropic::Script::reply(reply)).await;
    let out = env.run(Sdk::OpenAi, "multi_turn", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    // The fake already refused a `system` role, an unanswered tool_use or an orphan tool_result.
    let req = env.anthropic_request();
    assert_eq!(text_of(&req.body["system"]), "You are a terse weather assistant.");
    let messages = req.body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().expect("role")).collect();
    // The tool result opens the next user turn; the follow-up question may share it or come as
    // a second user message (the API joins consecutive turns of one role).
    assert_eq!(roles[..3], ["user", "assistant", "user"], "{}", req.body);
    assert!(roles[3..].iter().all(|r| *r == "user"), "{}", req.body);
    let uses: Vec<&Value> =
        messages[1]["content"].as_array().expect("blocks").iter().filter(|b| b["type"] == "tool_use").collect();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["id"], "call_paris");
    assert_eq!(uses[0]["input"], json!({"city": "Paris"}));
    let results: Vec<&Value> =
        messages[2]["content"].as_array().expect("blocks").iter().filter(|b| b["type"] == "tool_result").collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["tool_use_id"], "call_paris");
    assert!(text_of(&results[0]["content"]).contains("\"temperature\": 21"), "{}", req.body);
    let after: String = messages[2..].iter().map(|m| text_of(&m["content"])).collect();
    assert!(after.contains("Should I take an umbrella?"), "{}", req.body);
}

async fn openai_sdk_to_anthropic_error() {
    let script = anthropic::Script::queue([anthropic::Behaviour::error(400, "invalid_request_error", TOO_LONG)]);
    let env = Env::anthropic_only(Target::Gateway, script).await;
    let out = env.run(Sdk::OpenAi, "error", CLAUDE).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    assert!(err["message"].as_str().expect("message").contains(TOO_LONG), "{err}");
    // OpenAI's shape: the SDK's `body` is the inner `error` object.
    assert_eq!(err["body"]["type"], "invalid_request_error", "{err}");
}

async fn anthropic_sdk_to_openai_messages() {
    let reply = openai::Reply::text("Hello from GPT.").usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from GPT.");
    assert_eq!(out["stop_reason"], "end_turn");
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
    let req = env.openai_request();
    assert_eq!(req.path, "/v1/chat/completions");
    let messages = req.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert!(matches!(messages[0]["role"].as_str(), Some("system" | "developer")), "{}", req.body);
    assert_eq!(text_of(&messages[0]["content"]), "You are a terse assistant.");
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(text_of(&messages[1]["content"]), "Say hello.");
    let max = req.body.get("max_completion_tokens").or_else(|| req.body.get("max_tokens"));
    assert_eq!(max, Some(&json!(256)), "{}", req.body);
    assert!(env.anthropic.requests().is_empty(), "the model picked the OpenAI backend");
}

async fn anthropic_sdk_to_openai_stream() {
    let reply = openai::Reply::text("Streamed from GPT.").chunks(3).usage(OPENAI_USAGE).finish("length");
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from GPT.");
    assert_eq!(out["streamed_text"], "Streamed from GPT.");
    assert_eq!(out["stop_reason"], "max_tokens", "length becomes max_tokens");
    // The usage only OpenAI's final chunk carries reaches the Anthropic client.
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
    assert_eq!(env.openai_request().body["stream_options"]["include_usage"], true);
}

async fn anthropic_sdk_to_openai_tools() {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "tools", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(uses_of(&out), weather_calls("call_paris", "call_rome"));
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
    let req = env.openai_request();
    let tools = req.body["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(tools[0]["function"]["parameters"]["required"], json!(["city"]));
}

async fn anthropic_sdk_to_openai_tools_stream() {
    let reply = openai::Reply::tool_calls(openai_tool_calls()).usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "tools_stream", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(uses_of(&out), weather_calls("call_paris", "call_rome"));
    assert_anthropic_usage(&out["usage"], openai_usage_as_anthropic(OPENAI_USAGE));
}

async fn anthropic_sdk_to_openai_multi_turn() {
    let reply = openai::Reply::text("No umbrella needed.").usage(OPENAI_USAGE);
    let env = Env::openai_only(Target::Gateway, openai::Script::reply(reply)).await;
    let out = env.run(Sdk::Anthropic, "multi_turn", GPT).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "No umbrella needed.");
    // The fake already refused a tool message that answers no preceding tool call.
    let req = env.openai_request();
    let messages = req.body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().expect("role")).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"], "{}", req.body);
    assert_eq!(text_of(&messages[0]["content"]), "You are a terse weather assistant.");
    assert_eq!(text_of(&messages[2]["content"]), "Let me check.");
    assert_eq!(messages[2]["tool_calls"][0]["id"], "toolu_paris");
    assert_eq!(messages[2]["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(messages[2]["tool_calls"][0]["function"]["arguments"].as_str().expect("arguments"))
            .expect("arguments JSON");
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(messages[3]["tool_call_id"], "toolu_paris");
    assert!(text_of(&messages[3]["content"]).contains("\"temperature\": 21"));
    assert_eq!(text_of(&messages[4]["content"]), "Should I take an umbrella?");
}

async fn anthropic_sdk_to_openai_error() {
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
    let out = env.run(Sdk::Anthropic, "error", GPT).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert_eq!(err["status"], 400);
    // Anthropic's shape: {"type": "error", "error": {"type", "message"}}.
    assert_eq!(err["body"]["type"], "error", "{err}");
    assert_eq!(err["body"]["error"]["type"], "invalid_request_error", "{err}");
    assert!(err["body"]["error"]["message"].as_str().expect("message").contains("maximum context length"), "{err}");
}

/// The first provider resets, the second answers 503, the third 429 (with Retry-After): the SDK
/// still gets the fourth's answer, and each provider saw exactly one attempt.
async fn openai_sdk_failover() {
    require_sdks();
    let behaviours = [
        openai::Behaviour::Reset,
        openai::Behaviour::status(503),
        openai::Behaviour::status(429).retry_after("1"),
        openai::Behaviour::Reply(openai::Reply::text("Fourth time lucky.").usage(OPENAI_USAGE)),
    ];
    let mut fakes = Vec::new();
    for b in behaviours {
        fakes
            .push(FakeOpenAi::start(openai::Script::queue([b.clone()]).fallback(b).api_key(OPENAI_UPSTREAM_KEY)).await);
    }
    let ports: Vec<u16> = fakes.iter().map(FakeOpenAi::port).collect();
    let (_rt, url) = start_sluice(&failover_config(&ports)).await;
    for scenario in ["chat", "chat_stream_usage"] {
        let out = run_script(Sdk::OpenAi, scenario, &url, CLIENT_KEY, GPT).await;
        eprintln!("failover {scenario}: {out}");
        assert_no_error(&out);
        assert_eq!(out["text"], "Fourth time lucky.");
        assert_openai_usage(&out["usage"], OPENAI_USAGE);
    }
    for (i, fake) in fakes.iter().enumerate() {
        let n = fake.requests().len();
        if i == 3 {
            assert_eq!(n, 2, "provider {i} answered both requests");
        } else {
            assert!(n >= 1, "provider {i} was tried");
        }
    }
}

/// The gateway configuration of these tests loads against the AIBackend schema as it stands.
#[test]
fn gateway_configurations_load() {
    for config in [gateway_config(1, 2), failover_config(&[1, 2, 3, 4])] {
        let loaded = sluice::config::parse_text("ai.yaml", &config);
        assert!(loaded.errors.is_empty(), "{:?}\n{config}", loaded.errors);
        assert!(loaded.resources.iter().any(|l| l.resource.kind() == "AIBackend"), "{config}");
    }
}
