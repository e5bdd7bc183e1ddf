//! Real agent CLIs from npm (tests/agents/package.json, pinned; `npm ci --prefix tests/agents`)
//! through Sluice to the fake providers: Claude Code (print mode), Codex CLI (`exec`,
//! `wire_api = "responses"`) and Gemini CLI (non-interactive), each pointed at an in-process
//! gateway by the one or two settings docs/clients.md gives, with an AIBackend of the client's
//! own format or of another.
//!
//! Every run is one task with a tool: the fake answers the first request with a call of one of
//! the client's own file-reading tools on `note.txt`, the client runs it, and the fake answers
//! the second request (which must carry the file's text as the tool's result, in the provider's
//! format) with the final words. What the client printed must be those words; the usage it
//! reports must be the fake's. The providers are the project's fakes (tests/support/fake_llm),
//! which check what the real APIs check; the shape of what each client sent is kept as a golden
//! fixture (tests/fixtures/agents/, `SLUICE_UPDATE_GOLDEN=1` rewrites them).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::runtime::{BindMode, Runtime};
use support::fake_llm::RecordedRequest;
use support::fake_llm::anthropic::{self, FakeAnthropic};
use support::fake_llm::bedrock::{self, FakeBedrock};
use support::fake_llm::gemini::{self, FakeGemini};
use support::fake_llm::openai::{self, FakeOpenAi};

/// What `note.txt` holds: the tool's result must carry it to the provider.
const NOTE: &str = "The launch code is sluice-7f3a.";
/// What the fake says once it has read the tool's result.
const FINAL: &str = "The note gives the launch code sluice-7f3a.";
const UPSTREAM_KEY: &str = "up-key-agents";

/// The agents' folder: its node_modules holds the CLIs.
fn agents_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents")
}

/// The path of a CLI, failing the test with what to install when it is not there.
fn cli(name: &str) -> PathBuf {
    let bin = agents_dir().join("node_modules/.bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `npm ci --prefix tests/agents` (or `bash scripts/test.sh`, which does)",
        bin.display()
    );
    bin
}

// ---- the providers ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Anthropic,
    OpenAi,
    Gemini,
    Bedrock,
}

const BEDROCK_REGION: &str = "eu-west-3";
const BEDROCK_ACCESS: &str = "AKIAFAKEAGENTS000001";
const BEDROCK_SECRET: &str = "fAkEsEcReT/agents+test/0123456789abcdefgh";

/// One fake provider, scripted to call `tool` with `args`, then to answer [`FINAL`].
enum Fake {
    Anthropic(FakeAnthropic),
    OpenAi(FakeOpenAi),
    Gemini(FakeGemini),
    Bedrock(FakeBedrock),
}

/// The usage of the final answer, as each fake reports it: 40 tokens in, 12 out.
const IN: u64 = 40;
const OUT: u64 = 12;

impl Fake {
    async fn start(p: Provider, tool: &str, args: Value) -> Fake {
        Fake::start_with(p, tool, args, &[]).await
    }

    /// [`Fake::start`], with texts to answer the requests after the tool turn.
    async fn start_with(p: Provider, tool: &str, args: Value, more: &[&str]) -> Fake {
        match p {
            Provider::Anthropic => {
                let call = anthropic::Reply::blocks(vec![anthropic::Block::tool_use("toolu_note", tool, args)]);
                let last = anthropic::Reply::text(FINAL).usage(anthropic::Usage::new(IN, OUT));
                let more = more.iter().map(|t| anthropic::Behaviour::Reply(anthropic::Reply::text(t)));
                let script = anthropic::Script::queue(
                    [anthropic::Behaviour::Reply(call), anthropic::Behaviour::Reply(last)].into_iter().chain(more),
                );
                Fake::Anthropic(FakeAnthropic::start(script.api_key(UPSTREAM_KEY)).await)
            }
            Provider::OpenAi => {
                let call = openai::Reply::tool_calls(vec![openai::ToolCall::new("call_note", tool, &args.to_string())]);
                let last = openai::Reply::text(FINAL).usage(openai::Usage::new(IN, OUT));
                let more = more.iter().map(|t| openai::Behaviour::Reply(openai::Reply::text(t)));
                let script = openai::Script::queue(
                    [openai::Behaviour::Reply(call), openai::Behaviour::Reply(last)].into_iter().chain(more),
                );
                Fake::OpenAi(FakeOpenAi::start(script.api_key(UPSTREAM_KEY)).await)
            }
            Provider::Gemini => {
                let call = gemini::Reply::parts(vec![gemini::Part::call(tool, args)]);
                let last = gemini::Reply::text(FINAL).usage(gemini::Usage::new(IN, OUT));
                let more = more.iter().map(|t| gemini::Behaviour::Reply(gemini::Reply::text(t)));
                let script = gemini::Script::queue(
                    [gemini::Behaviour::Reply(call), gemini::Behaviour::Reply(last)].into_iter().chain(more),
                );
                Fake::Gemini(FakeGemini::start(script.api_key(UPSTREAM_KEY)).await)
            }
            Provider::Bedrock => {
                let keys = bedrock::Keys {
                    access_key_id: BEDROCK_ACCESS.into(),
                    secret_access_key: BEDROCK_SECRET.into(),
                    session_token: None,
                    region: BEDROCK_REGION.into(),
                };
                let call = bedrock::Reply::parts(vec![bedrock::Part::tool_use("tooluse_note", tool, args)]);
                let usage = bedrock::Usage { input_tokens: IN, output_tokens: OUT, ..Default::default() };
                let last = bedrock::Reply::text(FINAL).usage(usage);
                let more = more.iter().map(|t| bedrock::Behaviour::Reply(bedrock::Reply::text(t)));
                let script = bedrock::Script::new(keys)
                    .queue([bedrock::Behaviour::Reply(call), bedrock::Behaviour::Reply(last)].into_iter().chain(more));
                Fake::Bedrock(FakeBedrock::start(script).await)
            }
        }
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        match self {
            Fake::Anthropic(f) => f.requests(),
            Fake::OpenAi(f) => f.requests(),
            Fake::Gemini(f) => f.requests(),
            Fake::Bedrock(f) => f.requests(),
        }
    }

    /// The AIBackend in front of the fake: whatever model the client names, the provider's.
    fn backend(&self) -> String {
        let (kind, base, model, auth) = match self {
            Fake::Anthropic(f) => {
                ("anthropic", format!("http://127.0.0.1:{}/v1", f.port()), "claude-sonnet-4-6", "key")
            }
            Fake::OpenAi(f) => ("openai", format!("http://127.0.0.1:{}/v1", f.port()), "gpt-4o-mini", "key"),
            Fake::Gemini(f) => ("gemini", format!("http://127.0.0.1:{}/v1beta", f.port()), "gemini-2.5-flash", "key"),
            Fake::Bedrock(f) => (
                "bedrock",
                format!("http://127.0.0.1:{}", f.port()),
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                "aws",
            ),
        };
        let settings =
            if kind == "bedrock" { format!(", settings: {{region: {BEDROCK_REGION}}}") } else { String::new() };
        support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: p}"])
            + &format!(
                r#"---
apiVersion: v1
kind: Secret
metadata: {{name: key, namespace: default}}
stringData: {{apiKey: {UPSTREAM_KEY}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws, namespace: default}}
stringData: {{accessKeyId: {BEDROCK_ACCESS}, secretAccessKey: "{BEDROCK_SECRET}"}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: p, namespace: default}}
spec:
  provider: {{type: {kind}, baseURL: "{base}", auth: {{secretRef: {{name: {auth}}}}}, model: "{model}", forceModel: true{settings}}}
"#
            )
    }

    /// The text of the tool's result in the provider's second request.
    fn tool_result_text(&self, body: &Value) -> String {
        let all = body.to_string();
        // Each format nests it differently; what matters is that the note's text is there, in
        // the place of a tool's result.
        let place = match self {
            Fake::Anthropic(_) => "tool_result",
            Fake::OpenAi(_) => "\"role\":\"tool\"",
            Fake::Gemini(_) => "functionResponse",
            Fake::Bedrock(_) => "toolResult",
        };
        assert!(all.contains(place), "no {place} in the second request: {all}");
        all
    }
}

// ---- running a CLI ---------------------------------------------------------------------------

/// Loads `config` into a new in-process Sluice; returns it and its listener's base URL.
async fn start_sluice(config: &str) -> (Arc<Runtime>, String) {
    let loaded = sluice::config::parse_text("agents.yaml", config);
    assert!(loaded.errors.is_empty(), "the configuration does not load: {:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("the gateway listener is bound");
    (rt, format!("http://{addr}"))
}

/// What a CLI run gave: whether it exited 0, its standard output and error.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in `dir` with only `env` (besides PATH and a home of its own in `dir`),
/// for at most 120 s.
async fn run(program: PathBuf, args: Vec<String>, dir: PathBuf, env: Vec<(&'static str, String)>) -> Ran {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args).current_dir(&dir).env_clear();
        if let Ok(v) = std::env::var("PATH") {
            cmd.env("PATH", v);
        }
        cmd.env("HOME", &dir).env("NO_PROXY", "127.0.0.1,localhost").envs(env);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let read = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let out = read(Box::new(child.stdout.take().expect("stdout")));
        let err = read(Box::new(child.stderr.take().expect("stderr")));
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (stdout, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
        assert!(status.is_some(), "{} did not finish within 120 s:\n{stdout}\n{stderr}", program.display());
        Ran { ok: status.is_some_and(|s| s.success()), stdout, stderr }
    })
    .await
    .expect("join the CLI runner")
}

fn json_of(ran: &Ran) -> Value {
    serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\nstdout: {}\nstderr: {}", ran.stdout, ran.stderr))
}

// ---- golden fixtures of what clients send ----------------------------------------------------

/// The shape of a request body: its fields, and for lists of tools or messages their names and
/// roles; texts (which hold temporary paths and dates) are left out.
fn shape(body: &Value) -> Value {
    let tools: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| match t.get("functionDeclarations").and_then(Value::as_array) {
            Some(decls) => decls.iter().map(|d| d["name"].clone()).collect::<Vec<_>>(),
            None => vec![t.get("name").cloned().unwrap_or_else(|| t["type"].clone())],
        })
        .collect();
    let turns = body.get("messages").or_else(|| body.get("contents")).or_else(|| body.get("input"));
    let turns: Vec<Value> = turns
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| m.get("role").or_else(|| m.get("type")).cloned().unwrap_or(Value::Null))
        .collect();
    let mut fields: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    fields.sort();
    json!({"fields": fields, "tools": tools, "turns": turns})
}

fn golden(name: &str, body: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents").join(name);
    let actual = serde_json::to_string_pretty(&shape(body)).expect("json") + "\n";
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}; run with SLUICE_UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "what the client sends differs from {}", path.display());
}

/// The two requests of a tool turn: the first asked for the tool, the second carries its result.
fn two_requests(fake: &Fake, ran: &Ran) -> (RecordedRequest, RecordedRequest) {
    let reqs: Vec<RecordedRequest> =
        fake.requests().into_iter().filter(|r| r.method == "POST" && !r.path.contains("count")).collect();
    assert_eq!(
        reqs.len(),
        2,
        "a tool call and the answer after it: {reqs:#?}\nstdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    let mut it = reqs.into_iter();
    (it.next().expect("first"), it.next().expect("second"))
}

/// The run's folder, with the note in it.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("note.txt"), NOTE).expect("write the note");
    dir
}

// ---- Claude Code -----------------------------------------------------------------------------

async fn claude_code(provider: Provider) {
    let dir = workdir();
    let note = dir.path().join("note.txt").display().to_string();
    let fake = Fake::start(provider, "Read", json!({"file_path": note})).await;
    let (_rt, url) = start_sluice(&fake.backend()).await;
    let env = vec![
        ("ANTHROPIC_BASE_URL", url),
        ("ANTHROPIC_API_KEY", "sk-ant-client".to_string()),
        ("DISABLE_TELEMETRY", "1".to_string()),
        ("DISABLE_ERROR_REPORTING", "1".to_string()),
        ("DISABLE_AUTOUPDATER", "1".to_string()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_string()),
    ];
    let args = ["-p", "Read note.txt and tell me what it says.", "--output-format", "json"]
        .into_iter()
        .chain(["--model", "claude-sonnet-4-6", "--allowedTools", "Read"])
        .map(String::from)
        .collect();
    let ran = run(cli("claude"), args, dir.path().to_path_buf(), env).await;
    assert!(ran.ok, "claude failed:\n{}\n{}", ran.stdout, ran.stderr);
    let out = json_of(&ran);
    assert_eq!(out["result"], FINAL, "{out}");
    assert_eq!(out["is_error"], false);
    assert_eq!(out["num_turns"], 2, "a tool turn, then the answer: {out}");
    let (first, second) = two_requests(&fake, &ran);
    assert!(fake.tool_result_text(&second.body).contains(NOTE), "the note reached the provider as the tool's result");
    if provider == Provider::Anthropic {
        assert!(first.path.starts_with("/v1/messages"), "{}", first.path);
        golden("claude_code_messages.json", &first.body);
    }
    // The usage of the last answer is in what Claude Code reports (it sums its turns).
    let usage = &out["usage"];
    let reported = usage["input_tokens"].as_u64().unwrap_or(0)
        + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
        + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
    assert!(reported >= IN && usage["output_tokens"].as_u64().unwrap_or(0) >= OUT, "{usage}");
}

// ---- Codex CLI -------------------------------------------------------------------------------

async fn codex(provider: Provider) {
    let dir = workdir();
    let fake = Fake::start(provider, "exec_command", json!({"cmd": "cat note.txt"})).await;
    let (_rt, url) = start_sluice(&fake.backend()).await;
    let home = dir.path().join(".codex");
    std::fs::create_dir_all(&home).expect("mkdir");
    let config = format!(
        "model = \"gpt-5-codex\"\nmodel_provider = \"sluice\"\n\n[model_providers.sluice]\nname = \"Sluice\"\n\
         base_url = \"{url}/v1\"\nenv_key = \"SLUICE_API_KEY\"\nwire_api = \"responses\"\n"
    );
    std::fs::write(home.join("config.toml"), config).expect("write config.toml");
    let env = vec![("CODEX_HOME", home.display().to_string()), ("SLUICE_API_KEY", "sk-client".to_string())];
    let args = ["exec", "--skip-git-repo-check", "Read note.txt and tell me what it says."].map(String::from).to_vec();
    let ran = run(cli("codex"), args, dir.path().to_path_buf(), env).await;
    assert!(ran.ok, "codex failed:\n{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), FINAL, "codex exec prints the last message:\n{}", ran.stderr);
    let (first, second) = two_requests(&fake, &ran);
    assert!(fake.tool_result_text(&second.body).contains(NOTE), "the command's output reached the provider");
    if provider == Provider::OpenAi {
        // No fake speaks the Responses API: what Codex sent, as an OpenAI provider receives it.
        golden("codex_via_responses_to_openai_chat.json", &first.body);
    }
    assert!(ran.stderr.contains("tokens used"), "{}", ran.stderr);
}

// ---- Gemini CLI ------------------------------------------------------------------------------

async fn gemini_cli(provider: Provider) {
    let dir = workdir();
    let note = dir.path().join("note.txt").display().to_string();
    let fake = Fake::start(provider, "read_file", json!({"file_path": note})).await;
    let (_rt, url) = start_sluice(&fake.backend()).await;
    std::fs::create_dir_all(dir.path().join(".gemini")).expect("mkdir");
    std::fs::write(
        dir.path().join(".gemini/settings.json"),
        r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
    )
    .expect("settings");
    let env = vec![
        ("GEMINI_API_KEY", "client-key".to_string()),
        ("GOOGLE_GEMINI_BASE_URL", url),
        ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_string()),
    ];
    let args = ["-p", "Read note.txt and tell me what it says.", "-m", "gemini-2.5-flash", "--output-format", "json"]
        .map(String::from)
        .to_vec();
    let ran = run(cli("gemini"), args, dir.path().to_path_buf(), env).await;
    assert!(ran.ok, "gemini failed:\n{}\n{}", ran.stdout, ran.stderr);
    let out = json_of(&ran);
    assert_eq!(out["response"], FINAL, "{out}");
    let (first, second) = two_requests(&fake, &ran);
    assert!(fake.tool_result_text(&second.body).contains(NOTE), "the file reached the provider as the tool's result");
    if provider == Provider::Gemini {
        assert!(first.path.contains(":streamGenerateContent"), "{}", first.path);
        golden("gemini_cli_generate_content.json", &first.body);
    }
}

// ---- the Vercel AI SDK ------------------------------------------------------------------------

/// `client`: `openai` (the Responses API, the SDK's default for OpenAI), `openai-chat` or
/// `anthropic`; `scenario`: `generate` or `stream` (tests/agents/ai_sdk.mjs).
async fn ai_sdk(client: &str, scenario: &str, provider: Provider) {
    let dir = workdir();
    let fake = Fake::start(provider, "read_note", json!({"name": "launch"})).await;
    let (_rt, url) = start_sluice(&fake.backend()).await;
    let model = if client == "anthropic" { "claude-sonnet-4-6" } else { "gpt-4o-mini" };
    let env = vec![
        ("SLUICE_BASE_URL", url),
        ("SLUICE_CLIENT", client.to_string()),
        ("SLUICE_MODEL", model.to_string()),
        ("SLUICE_NOTE", NOTE.to_string()),
    ];
    let script = agents_dir().join("ai_sdk.mjs").display().to_string();
    let node = PathBuf::from("node");
    let ran = run(node, vec![script, scenario.to_string()], dir.path().to_path_buf(), env).await;
    assert!(ran.ok, "node failed:\n{}\n{}", ran.stdout, ran.stderr);
    let out = json_of(&ran);
    assert!(out.get("error").is_none(), "the AI SDK raised: {out}");
    assert_eq!(out["text"], FINAL, "{out}");
    assert_eq!(out["tool_calls"], json!([{"name": "read_note", "input": {"name": "launch"}}]), "{out}");
    assert_eq!(out["steps"], 2, "{out}");
    if scenario == "stream" {
        assert_eq!(out["streamed"], FINAL, "the text arrived as deltas: {out}");
    }
    let (first, second) = two_requests(&fake, &ran);
    assert!(fake.tool_result_text(&second.body).contains(NOTE), "the tool's output reached the provider");
    match (client, provider) {
        ("anthropic", Provider::Anthropic) => golden("ai_sdk_anthropic_messages.json", &first.body),
        ("openai-chat", Provider::OpenAi) => golden("ai_sdk_openai_chat_completions.json", &first.body),
        ("openai", Provider::OpenAi) => golden("ai_sdk_openai_responses_to_openai_chat.json", &first.body),
        _ => {}
    }
    // Usage summed over both steps: at least the final answer's.
    assert!(
        out["usage"]["input"].as_u64().unwrap_or(0) >= IN && out["usage"]["output"].as_u64().unwrap_or(0) >= OUT,
        "{out}"
    );
}

macro_rules! ai_sdk_pairings {
    ($($name:ident: $client:literal $scenario:literal $provider:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                ai_sdk($client, $scenario, Provider::$provider).await;
            }
        )*
    };
}

ai_sdk_pairings!(
    ai_sdk_openai_responses_generate_to_openai: "openai" "generate" OpenAi,
    ai_sdk_openai_responses_stream_to_anthropic: "openai" "stream" Anthropic,
    ai_sdk_openai_chat_generate_to_anthropic: "openai-chat" "generate" Anthropic,
    ai_sdk_openai_chat_stream_to_openai: "openai-chat" "stream" OpenAi,
    ai_sdk_anthropic_generate_to_anthropic: "anthropic" "generate" Anthropic,
    ai_sdk_anthropic_stream_to_openai: "anthropic" "stream" OpenAi,
    ai_sdk_anthropic_stream_to_gemini: "anthropic" "stream" Gemini,
);

// ---- the OpenAI Agents SDK --------------------------------------------------------------------

/// The second turn's answer.
const AGAIN: &str = "Once more: sluice-7f3a.";

/// `mode`: `responses` (the second turn by previous_response_id) or `chat`
/// (tests/python/agents_sdk.py).
async fn agents_sdk(mode: &str, provider: Provider) {
    let python = Command::new("python3").args(["-c", "import agents"]).status();
    assert!(
        python.is_ok_and(|s| s.success()),
        "python3 cannot import the OpenAI Agents SDK: pip install -r tests/python/requirements.txt"
    );
    let dir = workdir();
    let fake = Fake::start_with(provider, "read_note", json!({"name": "launch"}), &[AGAIN]).await;
    let (_rt, url) = start_sluice(&fake.backend()).await;
    let env = vec![
        ("SLUICE_BASE_URL", url),
        ("SLUICE_MODEL", "gpt-4o-mini".to_string()),
        ("SLUICE_NOTE", NOTE.to_string()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_string()),
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/agents_sdk.py").display().to_string();
    let ran = run(PathBuf::from("python3"), vec![script, mode.to_string()], dir.path().to_path_buf(), env).await;
    assert!(ran.ok, "python3 failed:\n{}\n{}", ran.stdout, ran.stderr);
    let out = json_of(&ran);
    assert!(out.get("error").is_none(), "the Agents SDK raised: {out}");
    assert_eq!(out["first"], FINAL, "{out}");
    assert_eq!(out["second"], AGAIN, "{out}");
    assert_eq!(out["tool_calls"][0]["name"], "read_note", "{out}");
    let reqs: Vec<RecordedRequest> = fake.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(reqs.len(), 3, "the tool call, the answer, the second turn: {reqs:#?}");
    // The second turn carries the whole first turn: the tool's result and the answer.
    let last = reqs[2].body.to_string();
    assert!(last.contains("sluice-7f3a") && last.contains(FINAL), "the history reached the provider: {last}");
    if mode == "responses" {
        assert_ne!(out["second_response_id"], out["first_response_id"]);
    }
    match (mode, provider) {
        ("chat", Provider::OpenAi) => golden("agents_sdk_chat_completions.json", &reqs[0].body),
        ("responses", Provider::OpenAi) => golden("agents_sdk_responses_to_openai_chat.json", &reqs[0].body),
        _ => {}
    }
}

macro_rules! agents_sdk_pairings {
    ($($name:ident: $mode:literal $provider:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                agents_sdk($mode, Provider::$provider).await;
            }
        )*
    };
}

agents_sdk_pairings!(
    agents_sdk_responses_to_anthropic: "responses" Anthropic,
    agents_sdk_responses_to_openai: "responses" OpenAi,
    agents_sdk_chat_to_openai: "chat" OpenAi,
    agents_sdk_chat_to_gemini: "chat" Gemini,
);

macro_rules! pairings {
    ($($name:ident: $client:ident($provider:ident)),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $client(Provider::$provider).await;
            }
        )*
    };
}

pairings!(
    claude_code_to_anthropic: claude_code(Anthropic),
    claude_code_to_openai: claude_code(OpenAi),
    claude_code_to_gemini: claude_code(Gemini),
    claude_code_to_bedrock: claude_code(Bedrock),
    codex_to_openai: codex(OpenAi),
    codex_to_anthropic: codex(Anthropic),
    codex_to_gemini: codex(Gemini),
    gemini_cli_to_gemini: gemini_cli(Gemini),
    gemini_cli_to_openai: gemini_cli(OpenAi),
    gemini_cli_to_anthropic: gemini_cli(Anthropic),
);
