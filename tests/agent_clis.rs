//! Real agent CLIs from npm (tests/agents/package.json, pinned) through Sluice to the fake
//! providers: Claude Code, Codex CLI and Gemini CLI each run one prompt (and a turn that calls
//! a tool), with their base URL at an in-process gateway whose AIBackend is a fake of the same
//! or of another format. What each answered, and what each sent (kept as golden fixtures in
//! tests/fixtures/agents/), is checked.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::runtime::{BindMode, Runtime};

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

/// Loads `config` into a new in-process Sluice; returns it and its listener's base URL.
async fn start_sluice(config: &str) -> (Arc<Runtime>, String) {
    let loaded = sluice::config::parse_text("agents.yaml", config);
    assert!(loaded.errors.is_empty(), "the configuration does not load: {:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("the gateway listener is bound");
    (rt, format!("http://{addr}"))
}

/// What a CLI run gave: its exit status, standard output and error.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in `dir` with `env` (and a home of its own), at most 120 s.
async fn run(program: PathBuf, args: Vec<String>, dir: PathBuf, env: Vec<(String, String)>) -> Ran {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args).current_dir(&dir).env_clear();
        for keep in ["PATH", "LANG", "TERM"] {
            if let Ok(v) = std::env::var(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("HOME", &dir).env("NO_PROXY", "127.0.0.1,localhost").envs(env);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
        let reader = std::thread::spawn(move || {
            use std::io::Read as _;
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            use std::io::Read as _;
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
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
        let (stdout, stderr) = (reader.join().unwrap_or_default(), err_reader.join().unwrap_or_default());
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

mod claude_code {
    use super::support::fake_llm::anthropic::{self, FakeAnthropic};
    use super::*;

    fn config(anthropic: u16) -> String {
        super::support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: claude}"])
            + &format!(
                r#"---
apiVersion: v1
kind: Secret
metadata: {{name: ant-key, namespace: default}}
stringData: {{apiKey: sk-ant-upstream}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: claude, namespace: default}}
spec:
  provider: {{type: anthropic, baseURL: "http://127.0.0.1:{anthropic}/v1", auth: {{secretRef: {{name: ant-key}}}}}}
"#
            )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explore() {
        let fake = FakeAnthropic::start(
            anthropic::Script::reply(anthropic::Reply::text("Hello from the fake.")).api_key("sk-ant-upstream"),
        )
        .await;
        let (_rt, url) = start_sluice(&config(fake.port())).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let env = vec![
            ("ANTHROPIC_BASE_URL".to_string(), url),
            ("ANTHROPIC_API_KEY".to_string(), "sk-ant-client".to_string()),
            ("DISABLE_TELEMETRY".to_string(), "1".to_string()),
            ("DISABLE_ERROR_REPORTING".to_string(), "1".to_string()),
            ("DISABLE_AUTOUPDATER".to_string(), "1".to_string()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_string(), "1".to_string()),
        ];
        let args =
            ["-p", "hi there", "--output-format", "json", "--model", "claude-sonnet-4-6"].map(String::from).to_vec();
        let ran = run(cli("claude"), args, dir.path().to_path_buf(), env).await;
        eprintln!("ok={} stdout={}\nstderr={}", ran.ok, ran.stdout, ran.stderr);
        for r in fake.requests() {
            eprintln!(
                "{} {} {}",
                r.method,
                r.path,
                serde_json::to_string(&r.body).unwrap_or_default().chars().take(3000).collect::<String>()
            );
        }
        let _ = json_of(&ran);
    }
}

mod explore_others {
    use super::support::fake_llm::gemini::{self, FakeGemini};
    use super::support::fake_llm::openai::{self, FakeOpenAi};
    use super::*;

    fn config(kind: &str, base: &str) -> String {
        super::support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: p}"])
            + &format!(
                r#"---
apiVersion: v1
kind: Secret
metadata: {{name: key, namespace: default}}
stringData: {{apiKey: up-key}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: p, namespace: default}}
spec:
  provider: {{type: {kind}, baseURL: "{base}", auth: {{secretRef: {{name: key}}}}}}
"#
            )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explore_codex() {
        let fake =
            FakeOpenAi::start(openai::Script::reply(openai::Reply::text("Hello from the fake.")).api_key("up-key"))
                .await;
        let (_rt, url) = start_sluice(&config("openai", &format!("http://127.0.0.1:{}/v1", fake.port()))).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join(".codex");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::write(home.join("config.toml"), format!("model = \"gpt-4o-mini\"\nmodel_provider = \"sluice\"\n[model_providers.sluice]\nname = \"Sluice\"\nbase_url = \"{url}/v1\"\nenv_key = \"SLUICE_KEY\"\nwire_api = \"responses\"\n")).expect("write");
        let env = vec![
            ("CODEX_HOME".to_string(), home.display().to_string()),
            ("SLUICE_KEY".to_string(), "sk-client".to_string()),
        ];
        let args = ["exec", "--skip-git-repo-check", "hi there"].map(String::from).to_vec();
        let ran = run(cli("codex"), args, dir.path().to_path_buf(), env).await;
        eprintln!("ok={} stdout={}\nstderr={}", ran.ok, ran.stdout, ran.stderr.chars().take(3000).collect::<String>());
        for r in fake.requests() {
            eprintln!(
                "{} {} {}",
                r.method,
                r.path,
                serde_json::to_string(&r.body).unwrap_or_default().chars().take(2500).collect::<String>()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explore_gemini() {
        let fake =
            FakeGemini::start(gemini::Script::reply(gemini::Reply::text("Hello from the fake.")).api_key("up-key"))
                .await;
        let (_rt, url) = start_sluice(&config("gemini", &format!("http://127.0.0.1:{}/v1beta", fake.port()))).await;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".gemini")).expect("mkdir");
        std::fs::write(
            dir.path().join(".gemini/settings.json"),
            r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
        )
        .expect("settings");
        let env = vec![
            ("GEMINI_API_KEY".to_string(), "client-key".to_string()),
            ("GOOGLE_GEMINI_BASE_URL".to_string(), url),
            ("GEMINI_CLI_TRUST_WORKSPACE".to_string(), "true".to_string()),
        ];
        let args = ["-p", "hi there", "-m", "gemini-2.5-flash", "--output-format", "json"].map(String::from).to_vec();
        let ran = run(cli("gemini"), args, dir.path().to_path_buf(), env).await;
        eprintln!(
            "ok={} stdout={}\nstderr={}",
            ran.ok,
            ran.stdout.chars().take(3000).collect::<String>(),
            ran.stderr.chars().take(3000).collect::<String>()
        );
        for r in fake.requests() {
            eprintln!(
                "{} {} {}",
                r.method,
                r.path,
                serde_json::to_string(&r.body).unwrap_or_default().chars().take(2500).collect::<String>()
            );
        }
    }
}
