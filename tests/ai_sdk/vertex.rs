//! The OpenAI and Anthropic SDKs through Sluice to the fake Vertex AI: Gemini models in
//! Gemini's format and Claude models in Anthropic's (`rawPredict`/`streamRawPredict`), with an
//! OAuth access token that Sluice mints from a service-account key at the fake Google token
//! endpoint (the fake checks the JWT's RS256 signature and claims), caches, and renews.

use std::sync::Arc;

use serde_json::{Value, json};
use sluice::runtime::Runtime;

use super::support::fake_llm::vertex::{self, FakeVertex, LOCATION, PROJECT};
use super::support::fake_llm::{RecordedRequest, anthropic, gemini};
use super::support::yaml::gateway_route;
use super::{
    CLIENT_KEY, Sdk, assert_anthropic_usage, assert_no_error, assert_openai_usage, calls_of, require_sdks, run_script,
    start_sluice, weather_calls,
};

const GEMINI: &str = "gemini-2.5-flash";
/// A Claude model as Vertex names it (the version after `@`).
const CLAUDE: &str = "claude-sonnet-4-6@20260101";

const GEMINI_USAGE: gemini::Usage = gemini::Usage {
    prompt_token_count: 40,
    candidates_token_count: 9,
    cached_content_token_count: 12,
    thoughts_token_count: 0,
};

const CLAUDE_USAGE: anthropic::Usage = anthropic::Usage {
    input_tokens: 25,
    output_tokens: 8,
    cache_read_input_tokens: 10,
    cache_creation_input_tokens: 4,
};

fn config(port: u16) -> String {
    // The key file goes into the Secret as YAML block text, indented.
    let key: String = vertex::key_file(port).lines().map(|l| format!("    {l}\n")).collect();
    gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: vertex}"])
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: gcp, namespace: default}}
stringData:
  credentials.json: |
{key}---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: vertex, namespace: default}}
spec:
  provider:
    type: vertex
    baseURL: http://127.0.0.1:{port}/v1/projects/{{project}}/locations/{{location}}
    settings: {{project: {PROJECT}, location: {LOCATION}}}
    auth: {{secretRef: {{name: gcp}}}}
"#
        )
}

struct Env {
    vertex: FakeVertex,
    url: String,
    _rt: Arc<Runtime>,
}

impl Env {
    async fn start(gemini: gemini::Script, anthropic: anthropic::Script, expires_in: u64) -> Env {
        require_sdks();
        let vertex = FakeVertex::start(gemini, anthropic, expires_in).await;
        let (rt, url) = start_sluice(&config(vertex.port())).await;
        Env { vertex, url, _rt: rt }
    }

    async fn gemini(reply: gemini::Reply) -> Env {
        Env::start(gemini::Script::reply(reply), anthropic::Script::default(), 3599).await
    }

    async fn claude(reply: anthropic::Reply) -> Env {
        Env::start(gemini::Script::default(), anthropic::Script::reply(reply), 3599).await
    }

    async fn run(&self, sdk: Sdk, scenario: &str, model: &str) -> Value {
        let out = run_script(sdk, scenario, &self.url, CLIENT_KEY, model).await;
        eprintln!("{sdk:?} {scenario} via Sluice to Vertex AI: {out}");
        out
    }

    /// The one model request, with a minted token and not the client's key.
    fn request(&self) -> RecordedRequest {
        let reqs = self.vertex.model_requests();
        assert_eq!(reqs.len(), 1, "one model request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        let auth = req.header("authorization").expect("authorization");
        assert!(auth.starts_with("Bearer ya29.fake-vertex-token-"), "{auth}");
        assert!(req.headers.iter().all(|(_, v)| !v.contains(CLIENT_KEY)), "the client's key stays home");
        req
    }
}

fn base(publisher: &str, model: &str, method: &str) -> String {
    format!("/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/{publisher}/models/{model}:{method}")
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

mod vertex_provider {
    scenarios!(
        openai_sdk_to_vertex_gemini_chat,
        openai_sdk_to_vertex_gemini_stream,
        anthropic_sdk_to_vertex_gemini_tools,
        anthropic_sdk_to_vertex_claude_messages,
        anthropic_sdk_to_vertex_claude_stream,
        openai_sdk_to_vertex_claude_tools_stream,
        tokens_are_cached_and_renewed,
        vertex_errors_reach_the_client,
        a_refused_token_is_a_clear_error,
    );
}

async fn openai_sdk_to_vertex_gemini_chat() {
    let env = Env::gemini(gemini::Reply::text("Hello from Vertex.").usage(GEMINI_USAGE)).await;
    let out = env.run(Sdk::OpenAi, "chat", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Vertex.");
    assert_openai_usage(
        &out["usage"],
        super::support::fake_llm::openai::Usage {
            prompt_tokens: 40,
            completion_tokens: 9,
            cached_tokens: 12,
            reasoning_tokens: 0,
        },
    );
    let req = env.request();
    assert_eq!(req.path, base("google", GEMINI, "generateContent"));
    assert_eq!(req.body["contents"], json!([{"role": "user", "parts": [{"text": "Say hello."}]}]));
    // The token was minted once, by a JWT the fake verified.
    assert_eq!(env.vertex.mints(), 1);
}

async fn openai_sdk_to_vertex_gemini_stream() {
    let reply = gemini::Reply::parts(vec![gemini::Part::text("Streamed from Vertex.").chunks(4)]).usage(GEMINI_USAGE);
    let env = Env::gemini(reply).await;
    let out = env.run(Sdk::OpenAi, "chat_stream", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed from Vertex.");
    assert_eq!(out["content_chunks"], 4);
    assert_eq!(env.request().path, format!("{}?alt=sse", base("google", GEMINI, "streamGenerateContent")));
}

async fn anthropic_sdk_to_vertex_gemini_tools() {
    let parts = vec![
        gemini::Part::text("Checking both."),
        gemini::Part::call("get_weather", json!({"city": "Paris", "unit": "celsius"})),
        gemini::Part::call("get_time", json!({"city": "Rome"})),
    ];
    let env = Env::gemini(gemini::Reply::parts(parts).usage(GEMINI_USAGE)).await;
    let out = env.run(Sdk::Anthropic, "tools", GEMINI).await;
    assert_no_error(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(super::uses_of(&out), weather_calls("call_0", "call_1"));
    let req = env.request();
    assert_eq!(req.body["tools"][0]["functionDeclarations"][0]["name"], "get_weather");
}

async fn anthropic_sdk_to_vertex_claude_messages() {
    let reply = anthropic::Reply::text("Hello from Claude on Vertex.").usage(CLAUDE_USAGE);
    let env = Env::claude(reply).await;
    let out = env.run(Sdk::Anthropic, "messages", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Hello from Claude on Vertex.");
    assert_anthropic_usage(&out["usage"], CLAUDE_USAGE);
    let req = env.request();
    assert_eq!(req.path, base("anthropic", CLAUDE, "rawPredict"));
    // Same format: the client's body, but the model moves to the path and the version into the body.
    assert!(req.body.get("model").is_none(), "{}", req.body);
    assert_eq!(req.body["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(req.body["system"], "You are a terse assistant.");
}

async fn anthropic_sdk_to_vertex_claude_stream() {
    let reply = anthropic::Reply::text("Streamed by Claude on Vertex.").usage(CLAUDE_USAGE);
    let env = Env::claude(reply).await;
    let out = env.run(Sdk::Anthropic, "messages_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["text"], "Streamed by Claude on Vertex.");
    assert_anthropic_usage(&out["usage"], CLAUDE_USAGE);
    let req = env.request();
    assert_eq!(req.path, base("anthropic", CLAUDE, "streamRawPredict"));
    assert_eq!(req.body["stream"], true);
}

async fn openai_sdk_to_vertex_claude_tools_stream() {
    let blocks = vec![
        anthropic::Block::text("Checking both.").chunks(2),
        anthropic::Block::tool_use("toolu_paris", "get_weather", json!({"city": "Paris", "unit": "celsius"})).chunks(3),
        anthropic::Block::tool_use("toolu_rome", "get_time", json!({"city": "Rome"})),
    ];
    let env = Env::claude(anthropic::Reply::blocks(blocks).usage(CLAUDE_USAGE)).await;
    let out = env.run(Sdk::OpenAi, "tools_stream", CLAUDE).await;
    assert_no_error(&out);
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(calls_of(&out), weather_calls("toolu_paris", "toolu_rome"));
    let req = env.request();
    assert_eq!(req.path, base("anthropic", CLAUDE, "streamRawPredict"));
    assert!(req.body.get("model").is_none(), "{}", req.body);
    assert_eq!(req.body["tools"][0]["name"], "get_weather");
}

async fn tokens_are_cached_and_renewed() {
    // Tokens live 301 s: renewed 300 s before expiry, so each lasts one second here.
    let env = Env::start(gemini::Script::default(), anthropic::Script::default(), 301).await;
    for _ in 0..3 {
        assert_no_error(&env.run(Sdk::OpenAi, "chat", GEMINI).await);
    }
    let mints = env.vertex.mints();
    assert!(mints >= 1, "a token was minted");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_no_error(&env.run(Sdk::OpenAi, "chat", GEMINI).await);
    assert_eq!(env.vertex.mints(), mints + 1, "an expiring token is renewed before use");
    // Long-lived tokens are minted once for many requests.
    let env = Env::gemini(gemini::Reply::text("cached")).await;
    for _ in 0..3 {
        assert_no_error(&env.run(Sdk::OpenAi, "chat", GEMINI).await);
    }
    assert_eq!(env.vertex.mints(), 1, "one token for three requests");
    assert_eq!(env.vertex.model_requests().len(), 3);
}

async fn vertex_errors_reach_the_client() {
    let script =
        gemini::Script::queue([gemini::Behaviour::error(400, "INVALID_ARGUMENT", "Unable to submit request.")]);
    let env = Env::start(script, anthropic::Script::default(), 3599).await;
    let out = env.run(Sdk::Anthropic, "error", GEMINI).await;
    let err = &out["error"];
    assert_eq!(err["class"], "BadRequestError", "{out}");
    assert!(err["message"].as_str().expect("message").contains("Unable to submit request."), "{err}");
}

async fn a_refused_token_is_a_clear_error() {
    require_sdks();
    let vertex = FakeVertex::start(gemini::Script::default(), anthropic::Script::default(), 3599).await;
    // A key the token endpoint does not know: the JWT names another account.
    let config =
        config(vertex.port()).replace(vertex::CLIENT_EMAIL, "someone-else@sluice-test.iam.gserviceaccount.com");
    let (_rt, url) = start_sluice(&config).await;
    let out = run_script(Sdk::OpenAi, "error", &url, CLIENT_KEY, GEMINI).await;
    let err = &out["error"];
    assert_eq!(err["status"], 502, "{out}");
    let message = err["message"].as_str().expect("message");
    assert!(message.contains("minting a Vertex AI access token") && message.contains("invalid_grant"), "{err}");
    assert_eq!(vertex.mints(), 0);
    assert!(vertex.model_requests().is_empty(), "nothing reaches the model without a token");
}

#[test]
fn the_configuration_loads() {
    let loaded = sluice::config::parse_text("vertex.yaml", &config(1));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
}
