//! MCP federation against real servers and the official client: `mcp-server-time` (PyPI, stdio)
//! and `@modelcontextprotocol/server-everything` (npm, stdio) behind an in-process Sluice,
//! driven by the official `mcp` Python SDK (tests/mcp/client.py; versions pinned in
//! tests/mcp/requirements.txt and tests/mcp/package-lock.json).
//!
//! Without python3 + `mcp` + `mcp_server_time`, or without node and tests/mcp/node_modules
//! (`npm ci --prefix tests/mcp`), the SDK tests fail, saying what to install. The bad-input
//! tests need neither (only python3 for a stdlib-only probe
//! target): they prove that nothing past the handshake reaches an upstream.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::runtime::{BindMode, Runtime};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

// ---- environment -----------------------------------------------------------------------------

fn everything_script() -> PathBuf {
    Path::new(MANIFEST).join("tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

/// Fails the test, saying what to install, unless the servers and the SDK are installed.
fn require_servers() {
    static PRESENT: OnceLock<Option<String>> = OnceLock::new();
    let missing = PRESENT.get_or_init(|| {
        let python = Command::new("python3")
            .args(["-c", "import mcp, mcp_server_time"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !python {
            return Some(
                "python3 cannot import `mcp` and `mcp_server_time`: run \
                         `pip install -r tests/mcp/requirements.txt`"
                    .to_string(),
            );
        }
        let node = Command::new("node").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
        if !node || !everything_script().exists() {
            return Some("node or tests/mcp/node_modules is missing: run `npm ci --prefix tests/mcp`".to_string());
        }
        None
    });
    if let Some(message) = missing {
        panic!("{message} (or `bash scripts/test.sh`, which installs them)");
    }
}

// ---- configuration ---------------------------------------------------------------------------

/// A Gateway, a route to the MCPBackend `tools` (the tests use `/mcp`), whose targets are
/// `targets` (YAML list items).
fn config(targets: &str, failure_mode: &str) -> String {
    config_on(80, targets, failure_mode)
}

/// [`config`] with the listener on `port`.
fn config_on(port: u16, targets: &str, failure_mode: &str) -> String {
    support::yaml::gateway_route(port, "mcp", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + &format!(
            r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {{name: tools, namespace: default}}
spec:
  failureMode: {failure_mode}
  targets:
{targets}"#
        )
}

/// The time server, started through `sh` so that the test knows its pid (`pidfile`) and can
/// keep it from starting again (while `downfile` exists).
fn time_target(pidfile: &Path, downfile: &Path) -> String {
    let script = format!(
        "if [ -e '{down}' ]; then echo 'time target held down' >&2; exit 1; fi; echo $$ > '{pid}'; \
         exec python3 -m mcp_server_time --local-timezone UTC",
        down = downfile.display(),
        pid = pidfile.display()
    );
    format!(
        "    - name: time\n      stdio: {{command: sh, args: [\"-c\", {script}]}}\n      tools: {{include: [\"*_time\"]}}\n",
        script = json!(script)
    )
}

fn everything_target() -> String {
    format!(
        "    - name: everything\n      stdio: {{command: node, args: [{script}, stdio]}}\n      tools: {{exclude: [\"get-env\", \"trigger-*\", \"toggle-*\"]}}\n",
        script = json!(everything_script().display().to_string())
    )
}

/// server-everything with the tools that ask the client things (sampling, elicitation, roots)
/// and report progress.
fn interactive_everything_target() -> String {
    format!(
        "    - name: everything\n      stdio: {{command: node, args: [{script}, stdio]}}\n      tools: {{exclude: [\"get-env\"]}}\n",
        script = json!(everything_script().display().to_string())
    )
}

/// server-everything over HTTP (`streamableHttp`, or `sse`: the legacy HTTP+SSE transport), on
/// a loopback port (tests/mcp/loopback.cjs keeps its `listen(PORT)` off every other
/// interface); killed when dropped.
struct RemoteEverything {
    child: std::process::Child,
    port: u16,
    mode: &'static str,
}

impl RemoteEverything {
    fn start(mode: &'static str) -> RemoteEverything {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        RemoteEverything { child: RemoteEverything::spawn(mode, port), port, mode }
    }

    /// Stops the server and starts a new one on the same port (which knows no session).
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = RemoteEverything::spawn(self.mode, self.port);
    }

    fn spawn(mode: &str, port: u16) -> std::process::Child {
        let child = Command::new("node")
            .arg("-r")
            .arg(Path::new(MANIFEST).join("tests/mcp/loopback.cjs"))
            .arg(everything_script())
            .arg(mode)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server-everything over HTTP");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "server-everything did not listen on 127.0.0.1:{port} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// The target `name` on this server.
    fn target(&self, name: &str) -> String {
        let (kind, path) = if self.mode == "sse" { ("sse", "sse") } else { ("streamableHttp", "mcp") };
        format!("    - name: {name}\n      {kind}: {{url: \"http://127.0.0.1:{}/{path}\"}}\n", self.port)
    }
}

impl Drop for RemoteEverything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stdlib-only Python server whose listings come in pages of three (tests/mcp/paged_server.py).
fn paged_target(env: &str) -> String {
    let script = Path::new(MANIFEST).join("tests/mcp/paged_server.py");
    format!(
        "    - name: paged\n      stdio: {{command: python3, args: [{}], env: {{{env}}}}}\n",
        json!(script.display().to_string())
    )
}

async fn start(config: &str) -> (Arc<Runtime>, SocketAddr) {
    let loaded = sluice::config::parse_text("mcp.yaml", config);
    assert!(loaded.errors.is_empty(), "the configuration does not load: {:?}\n{config}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let snapshot = rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let unhealthy: Vec<String> = snapshot.status.problems();
    assert!(unhealthy.is_empty(), "{unhealthy:?}");
    let addr = rt.listener_addr("default", "gw", 80).expect("the gateway listener is bound");
    (rt, addr)
}

// ---- the Python SDK --------------------------------------------------------------------------

async fn run_client(scenario: &str, addr: SocketAddr, env: &[(&str, String)]) -> Value {
    let scenario = scenario.to_string();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("python3");
        cmd.arg(Path::new(MANIFEST).join("tests/mcp/client.py"))
            .arg(&scenario)
            .env("SLUICE_MCP_URL", format!("http://{addr}/mcp"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start python3");
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for python3") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{scenario} did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (mut out, mut err) = (String::new(), String::new());
        child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
        child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert!(status.success(), "{scenario} failed with {status}:\n{err}\n{out}");
        eprintln!("{scenario}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{scenario} printed no JSON ({e}):\n{out}\n{err}"))
    })
    .await
    .expect("join the client")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_sees_the_federated_tools_and_calls_each() {
    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = time_target(&dir.path().join("pid"), &dir.path().join("down")) + &everything_target();
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    // `legacy`: the initialize handshake of the session era; `auto`: the SDK probes
    // `server/discover` and, finding the stateless era, speaks it (no session at all).
    for (scenario, era) in [("list_and_call", "2025-11-25"), ("list_and_call_auto", "2026-07-28")] {
        let out = run_client(scenario, addr, &[]).await;
        assert_eq!(out["protocol_version"], era, "{scenario}: {out}");
        assert_eq!(out["server"], "sluice");
        let tools = strings(&out["tools"]);
        // Both targets, prefixed with their names; the filters applied.
        for want in ["time_get_current_time", "time_convert_time", "everything_echo", "everything_get-sum"] {
            assert!(tools.contains(&want.to_string()), "{want} missing from {tools:?}");
        }
        assert!(tools.iter().all(|t| t.starts_with("time_") || t.starts_with("everything_")), "{tools:?}");
        for excluded in
            ["everything_get-env", "everything_trigger-sampling-request", "everything_toggle-simulated-logging"]
        {
            assert!(!tools.contains(&excluded.to_string()), "{excluded} was not filtered out: {tools:?}");
        }
        assert!(out["meta"].is_null(), "no target missing: {}", out["meta"]);
        // A call to each target, routed by prefix and answered by the right server.
        assert!(out["time"]["text"].as_str().unwrap_or_default().contains("Europe/Paris"), "{}", out["time"]);
        assert_eq!(out["time"]["is_error"], false);
        assert!(out["echo"]["text"].as_str().unwrap_or_default().contains("hello through sluice"), "{}", out["echo"]);
        assert!(out["sum"]["text"].as_str().unwrap_or_default().contains("42"), "{}", out["sum"]);
        assert_eq!(out["unknown"]["error"]["code"], -32602, "{}", out["unknown"]);
    }
}

/// Targets asking the client mid-call, through Sluice, in both eras: in the session era the
/// requests go down the call's SSE answer and the client POSTs its answers; in the stateless
/// era the call is answered `input_required` and the client retries it with its responses.
/// Four real targets: time (stdio), everything (stdio), everything over streamable HTTP
/// (`remote`) and everything over the legacy HTTP+SSE transport (`legacy`, our own client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_ask_the_client_through_sluice_in_both_eras() {
    require_servers();
    let remote = RemoteEverything::start("streamableHttp");
    let legacy = RemoteEverything::start("sse");
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = time_target(&dir.path().join("pid"), &dir.path().join("down"))
        + &interactive_everything_target()
        + &remote.target("remote")
        + &legacy.target("legacy");
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    for (scenario, era) in [("interactive", "2025-11-25"), ("interactive_auto", "2026-07-28")] {
        let out = run_client(scenario, addr, &[]).await;
        assert_eq!(out["protocol_version"], era, "{scenario}: {out}");
        let tools = strings(&out["tools"]);
        for want in [
            "time_get_current_time",
            "everything_trigger-sampling-request",
            "everything_trigger-elicitation-request",
            "everything_get-roots-list",
            "remote_echo",
            "remote_trigger-sampling-request",
            "legacy_echo",
            "legacy_trigger-elicitation-request",
        ] {
            assert!(tools.contains(&want.to_string()), "{scenario}: {want} missing from {tools:?}");
        }
        assert!(
            tools.iter().all(|t| ["time_", "everything_", "remote_", "legacy_"].iter().any(|p| t.starts_with(p))),
            "{scenario}: {tools:?}"
        );
        // Sampling: the target's request reached the client's callback, whose answer reached the
        // target (which quotes it in its result).
        let asked = &out["asked"];
        let prompt = "Resource trigger-sampling-request context: name a river";
        assert_eq!(asked["sampling"][0]["prompt"], prompt, "{scenario}: {out}");
        assert_eq!(asked["sampling"][0]["max_tokens"], 33, "{scenario}: {out}");
        let sampled = out["sampling"]["text"].as_str().unwrap_or_default();
        assert!(sampled.contains(&format!("sampled answer to <{prompt}>")), "{scenario}: {}", out["sampling"]);
        assert!(sampled.contains("client-side-model"), "{scenario}: {}", out["sampling"]);
        // Elicitation: the form reached the client; what it filled in reached the target.
        assert_eq!(asked["elicitation"][0], "Please provide inputs for the following fields:", "{scenario}: {out}");
        let elicited = out["elicitation"]["text"].as_str().unwrap_or_default();
        assert!(elicited.contains("Ada Lovelace") && elicited.contains("accept"), "{scenario}: {}", out["elicitation"]);
        // Roots: asked of the client, listed by the target.
        assert!(asked["roots"].as_i64().unwrap_or(0) >= 1, "{scenario}: {out}");
        let roots = out["roots"]["text"].as_str().unwrap_or_default();
        assert!(roots.contains("file:///work/project"), "{scenario}: {}", out["roots"]);
        // Over streamable HTTP too, and the other targets as usual.
        assert!(out["remote_echo"]["text"].as_str().unwrap_or_default().contains("over streamable HTTP"), "{out}");
        let remote_sampled = out["remote_sampling"]["text"].as_str().unwrap_or_default();
        assert!(remote_sampled.contains("sampled answer to <"), "{scenario}: {}", out["remote_sampling"]);
        assert!(out["legacy_echo"]["text"].as_str().unwrap_or_default().contains("over HTTP+SSE"), "{out}");
        let legacy_sampled = out["legacy_sampling"]["text"].as_str().unwrap_or_default();
        assert!(legacy_sampled.contains("sampled answer to <"), "{scenario}: {}", out["legacy_sampling"]);
        let legacy_elicited = out["legacy_elicitation"]["text"].as_str().unwrap_or_default();
        assert!(legacy_elicited.contains("Ada Lovelace"), "{scenario}: {}", out["legacy_elicitation"]);
        assert_eq!(out["time"]["is_error"], false, "{scenario}: {}", out["time"]);
        assert_eq!(out["long"]["is_error"], false, "{scenario}: {}", out["long"]);
        // Progress: every step of the operation, under the client's own token (in the stateless era,
        // down the SSE answer of the round under way).
        let steps: Vec<f64> = out["progress"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["progress"].as_f64()).collect())
            .unwrap_or_default();
        assert_eq!(steps, vec![1.0, 2.0, 3.0, 4.0], "{scenario}: {}", out["progress"]);
        let steps: Vec<f64> = out["legacy_progress"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["progress"].as_f64()).collect())
            .unwrap_or_default();
        assert_eq!(steps, vec![1.0, 2.0], "{scenario}: {}", out["legacy_progress"]);
    }
}

/// HTTP targets restarted mid-session (so they know the upstream sessions no more; one of them
/// reached through a Service): the next
/// call in the same downstream session is served by a new upstream session, without the
/// client noticing (streamable HTTP: re-initialized on the target's 404; HTTP+SSE: the ended
/// event stream closes the session, and the next call opens another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_http_targets_are_taken_up_again_within_the_session() {
    require_servers();
    let mut remote = RemoteEverything::start("streamableHttp");
    let mut legacy = RemoteEverything::start("sse");
    // `remote` is reached through a Service and its EndpointSlice (as in a cluster).
    let service = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: everything, namespace: default}}\n\
         spec: {{ports: [{{name: http, port: 80}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: everything-1, namespace: default, labels: {{kubernetes.io/service-name: everything}}}}\n\
         addressType: IPv4\nendpoints: [{{addresses: [127.0.0.1]}}]\nports: [{{name: http, port: {}}}]\n",
        remote.port
    );
    let remote_target = "    - name: remote\n      streamableHttp: {backendRef: {name: everything, port: 80}}\n";
    let (_rt, addr) =
        start(&(config(&(remote_target.to_string() + &legacy.target("legacy")), "FailOpen") + &service)).await;
    let (status, headers, body) = post(addr, None, INITIALIZE.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let session = header(&headers, "mcp-session-id").expect("a session").to_string();
    let echo = |target: &str, n: u32| {
        let call = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": format!("{target}_echo"), "arguments": {"message": format!("round {n}")}}});
        serde_json::to_vec(&call).expect("json")
    };
    for round in [1, 2] {
        for target in ["remote", "legacy"] {
            let (status, _, body) = post(addr, Some(&session), echo(target, round)).await;
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(status, 200, "{target} round {round}: {body}");
            let text = v["result"]["content"][0]["text"].as_str().unwrap_or_default();
            assert_eq!(text, format!("Echo: round {round}"), "{target} round {round}: {body}");
        }
        remote.restart();
        legacy.restart();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_client_over_http_sse_sees_and_calls_the_tools() {
    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = time_target(&dir.path().join("pid"), &dir.path().join("down")) + &everything_target();
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    let out = run_client("legacy_sse", addr, &[]).await;
    assert_eq!(out["server"], "sluice");
    assert_eq!(out["session_ids"].as_array().map(Vec::len), Some(1), "the endpoint event named the session: {out}");
    let tools = strings(&out["tools"]);
    for want in ["time_get_current_time", "everything_echo"] {
        assert!(tools.contains(&want.to_string()), "{want} missing from {tools:?}");
    }
    assert!(out["time"]["text"].as_str().unwrap_or_default().contains("Europe/Paris"), "{}", out["time"]);
    assert!(out["echo"]["text"].as_str().unwrap_or_default().contains("hello over SSE"), "{}", out["echo"]);
    assert_eq!(out["unknown"]["error"]["code"], -32602, "{}", out["unknown"]);
    // A message for a session that does not exist, or whose stream is gone: 404.
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec();
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /mcp?session_id=0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: mcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(&body).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let status: u16 = out.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
        (status, (), out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    })
    .await
    .expect("join");
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_target_fails_open_and_heals() {
    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let (pid, down) = (dir.path().join("pid"), dir.path().join("down"));
    let targets = time_target(&pid, &down) + &everything_target();
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    let env =
        [("SLUICE_TIME_PIDFILE", pid.display().to_string()), ("SLUICE_TIME_DOWNFILE", down.display().to_string())];
    let out = run_client("kill_target", addr, &env).await;
    let before = strings(&out["before"]);
    assert!(before.contains(&"time_get_current_time".to_string()), "{before:?}");
    // While `time` is down: the rest is served, and `time` is named as missing.
    let during = &out["during"];
    let tools = strings(&during["tools"]);
    assert!(tools.contains(&"everything_echo".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("time_")), "{tools:?}");
    let missing = &during["meta"]["sluice.dev/unavailableTargets"];
    assert_eq!(missing[0]["target"], "time", "{}", during["meta"]);
    assert_eq!(missing[0]["backend"], "default/tools");
    let err = &during["time"]["error"];
    assert_eq!(err["code"], -32603, "{}", during["time"]);
    assert!(err["message"].as_str().unwrap_or_default().contains("\"time\""), "{err}");
    assert_eq!(err["data"]["target"], "time");
    assert!(during["echo"]["text"].as_str().unwrap_or_default().contains("still here"), "{}", during["echo"]);
    // Allowed to start again, it comes back within the same client session.
    assert_eq!(strings(&out["after"]), before, "the target healed");
    assert!(out["healed"]["text"].as_str().unwrap_or_default().contains("UTC"), "{}", out["healed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_pages_resources_reads_them_and_gets_prompts() {
    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets =
        time_target(&dir.path().join("pid"), &dir.path().join("down")) + &everything_target() + &paged_target("");
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    let out = run_client("resources_and_prompts", addr, &[]).await;

    // Merged capabilities: some targets offer resources, prompts and completion.
    let caps = &out["capabilities"];
    for c in ["tools", "resources", "prompts", "completions"] {
        assert!(caps[c].is_object(), "{c} missing from {caps}");
    }

    // Resources of every target, paged through: `paged` has 7 in pages of 3, so the
    // federated listing takes three pages; everything's come in the first.
    let pages = out["resource_pages"].as_array().expect("pages");
    assert_eq!(pages.len(), 3, "{pages:?}");
    let uris: Vec<String> = pages
        .iter()
        .flat_map(|p| p.as_array().into_iter().flatten())
        .map(|r| r["uri"].as_str().unwrap_or_default().to_string())
        .collect();
    let paged: Vec<&String> = uris.iter().filter(|u| u.starts_with("sluice:paged:")).collect();
    assert_eq!(paged.len(), 7, "{uris:?}");
    assert!(uris.iter().any(|u| u.starts_with("sluice:everything:demo://")), "{uris:?}");
    assert!(uris.iter().all(|u| u.starts_with("sluice:paged:") || u.starts_with("sluice:everything:")), "{uris:?}");
    let first = &pages[0][0];
    let original = first["_meta"]["sluice.dev/originalUri"].as_str().expect("the original URI in _meta");
    assert!(first["uri"].as_str().unwrap_or_default().ends_with(original), "{first}");

    // Reads through rewritten URIs: the contents carry the rewritten URI.
    let doc = &out["read_doc"]["ok"][0];
    assert!(doc["uri"].as_str().unwrap_or_default().starts_with("sluice:everything:demo://"), "{}", out["read_doc"]);
    assert!(!doc["text"].as_str().unwrap_or_default().is_empty(), "{doc}");
    let paged = &out["read_paged"]["ok"][0];
    assert_eq!(paged["uri"], "sluice:paged:paged://item/5", "{}", out["read_paged"]);
    assert_eq!(paged["text"], "contents of paged://item/5");
    // A template, rewritten, expanded by the client, read through Sluice.
    let templates: Vec<&str> =
        out["templates"].as_array().into_iter().flatten().filter_map(|t| t["uriTemplate"].as_str()).collect();
    assert!(templates.contains(&"sluice:everything:demo://resource/dynamic/text/{resourceId}"), "{templates:?}");
    assert!(templates.contains(&"sluice:paged:paged://item/{n}"), "{templates:?}");
    let read = &out["read_template"]["ok"][0];
    assert!(read["text"].as_str().unwrap_or_default().contains("Resource 3"), "{}", out["read_template"]);
    assert_eq!(out["read_unknown"]["error"]["code"], -32602, "{}", out["read_unknown"]);

    // Prompts, prefixed like tools, four from `paged` over two upstream pages.
    let prompts: Vec<&str> =
        out["prompts"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
    for want in ["everything_args-prompt", "everything_completable-prompt", "paged_p0", "paged_p3"] {
        assert!(prompts.contains(&want), "{want} missing from {prompts:?}");
    }
    let text = out["args_prompt"]["ok"][0]["content"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Paris, TX"), "{}", out["args_prompt"]);
    assert_eq!(out["paged_prompt"]["ok"][0]["content"]["text"], "p3 for sluice", "{}", out["paged_prompt"]);

    // Completion routed by a prompt name and by a rewritten template URI.
    assert_eq!(out["complete_prompt"]["ok"]["values"], json!(["Engineering"]), "{}", out["complete_prompt"]);
    assert_eq!(out["complete_template"]["ok"]["values"], json!(["7"]), "{}", out["complete_template"]);
    assert_eq!(out["bad_cursor"]["error"]["code"], -32602, "{}", out["bad_cursor"]);
}

// ---- bad input, over raw HTTP ----------------------------------------------------------------

/// A raw HTTP/1.1 request; returns status, headers (lower-cased names) and body.
fn request(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut head =
        format!("{method} /mcp HTTP/1.1\r\nHost: mcp\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const JSON_HEADERS: [(&str, &str); 2] =
    [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")];

async fn post(addr: SocketAddr, session: Option<&str>, body: Vec<u8>) -> (u16, Vec<(String, String)>, String) {
    let session = session.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut headers = JSON_HEADERS.to_vec();
        if let Some(s) = &session {
            headers.push(("Mcp-Session-Id", s));
        }
        request(addr, "POST", &headers, &body)
    })
    .await
    .expect("join")
}

fn rpc_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no JSON-RPC error: {body}"))
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_error_and_starts_no_upstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `initialize` asks the targets for their capabilities: the probe answers the handshake
    // and writes `marker` on any other request.
    let marker = dir.path().join("reached");
    let targets = paged_target(&format!("SLUICE_PROBE_MARKER: {}", json!(marker.display().to_string())));
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;

    // No session yet: what is wrong with the message comes first, then the missing session.
    let (status, _, body) = post(addr, None, b"{not json".to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (400, -32700), "{body}");
    let (status, _, body) = post(addr, None, br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (400, -32600), "{body}");
    let (status, _, body) = post(addr, None, br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (400, -32600), "{body}");
    let (status, _, body) = post(addr, None, br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (400, -32600), "missing session: {body}");
    assert!(body.contains("Mcp-Session-Id"), "{body}");
    let (status, _, body) =
        post(addr, Some("0123"), br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec()).await;
    assert_eq!(status, 404, "unknown session: {body}");
    let (status, _, body) = post(addr, None, vec![b' '; 5 * 1024 * 1024]).await;
    assert_eq!(status, 413, "{body}");

    // A session, then bad requests within it.
    let (status, headers, body) = post(addr, None, INITIALIZE.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let session = header(&headers, "mcp-session-id").expect("a session id").to_string();
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
    let (status, _, _) =
        post(addr, Some(&session), br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec()).await;
    assert_eq!(status, 202);
    let (status, _, body) = post(addr, Some(&session), br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON")["result"], json!({}));
    let (status, _, body) =
        post(addr, Some(&session), br#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#.to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (200, -32601), "{body}");
    let (status, _, body) = post(
        addr,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#.to_vec(),
    )
    .await;
    assert_eq!((status, rpc_code(&body)), (200, -32602), "{body}");
    let (status, _, body) = post(
        addr,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#.to_vec(),
    )
    .await;
    assert_eq!((status, rpc_code(&body)), (200, -32602), "{body}");
    let (status, _, body) = post(
        addr,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":"zz"}}"#.to_vec(),
    )
    .await;
    assert_eq!((status, rpc_code(&body)), (200, -32602), "{body}");
    for bad in [
        r#"{"jsonrpc":"2.0","id":10,"method":"resources/list","params":{"cursor":7}}"#,
        r#"{"jsonrpc":"2.0","id":11,"method":"prompts/list","params":{"cursor":"eyJ2IjoxLCJraW5kIjoidG9vbHMifQ"}}"#,
        r#"{"jsonrpc":"2.0","id":12,"method":"resources/read","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":13,"method":"resources/read","params":{"uri":"demo://not/ours"}}"#,
        r#"{"jsonrpc":"2.0","id":14,"method":"resources/read","params":{"uri":"sluice:nobody:demo://x"}}"#,
        r#"{"jsonrpc":"2.0","id":15,"method":"prompts/get","params":{"arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":16,"method":"completion/complete","params":{"ref":{"type":"ref/x"},"argument":{}}}"#,
        r#"{"jsonrpc":"2.0","id":17,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"x"}}}"#,
    ] {
        let (status, _, body) = post(addr, Some(&session), bad.as_bytes().to_vec()).await;
        assert_eq!((status, rpc_code(&body)), (200, -32602), "{bad}: {body}");
    }
    let (status, _, body) = post(addr, Some(&session), INITIALIZE.as_bytes().to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (400, -32600), "initialize within a session: {body}");

    // Wrong methods and headers.
    let (status, headers, _) = tokio::task::spawn_blocking(move || request(addr, "GET", &[], b"")).await.expect("join");
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("GET, POST, DELETE"));
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        request(addr, "POST", &[("Content-Type", "text/plain"), ("Accept", "application/json")], INITIALIZE.as_bytes())
    })
    .await
    .expect("join");
    assert_eq!(status, 415, "{body}");
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        request(addr, "POST", &[("Content-Type", "application/json"), ("Accept", "text/html")], INITIALIZE.as_bytes())
    })
    .await
    .expect("join");
    assert_eq!(status, 406, "{body}");
    let s = session.clone();
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        let mut h = JSON_HEADERS.to_vec();
        h.push(("Mcp-Session-Id", &s));
        h.push(("MCP-Protocol-Version", "1999-01-01"));
        request(addr, "POST", &h, br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
    })
    .await
    .expect("join");
    assert_eq!((status, rpc_code(&body)), (400, -32600), "{body}");

    // An SSE-only client gets its answer as one event.
    let s = session.clone();
    let (status, headers, body) = tokio::task::spawn_blocking(move || {
        request(
            addr,
            "POST",
            &[("Content-Type", "application/json"), ("Accept", "text/event-stream"), ("Mcp-Session-Id", &s)],
            br#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#,
        )
    })
    .await
    .expect("join");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/event-stream"));
    assert!(body.starts_with("event: message\ndata: {"), "{body}");

    // The stateless era (2026-07-28): headers that disagree with the body, a missing envelope,
    // an unsupported version, a method that does not exist. None reaches the target.
    let modern = |method: &str, name: Option<&str>, version: &str, params: Value| {
        // `method` is `body method[>header method]`.
        let (body_method, header_method) = method.split_once('>').unwrap_or((method, method));
        let body = json!({"jsonrpc": "2.0", "id": 20, "method": body_method, "params": params}).to_string();
        let (method, name, version) = (header_method.to_string(), name.map(str::to_string), version.to_string());
        tokio::task::spawn_blocking(move || {
            let mut h = JSON_HEADERS.to_vec();
            h.push(("MCP-Protocol-Version", &version));
            h.push(("Mcp-Method", &method));
            if let Some(n) = &name {
                h.push(("Mcp-Name", n));
            }
            request(addr, "POST", &h, body.as_bytes())
        })
    };
    let envelope = |v: &str| json!({"io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": {}});
    let call = |v: &str| json!({"name": "probe_echo", "arguments": {}, "_meta": envelope(v)});
    let (status, _, body) =
        modern("tools/call", Some("probe_other"), "2026-07-28", call("2026-07-28")).await.expect("join");
    assert_eq!((status, rpc_code(&body)), (400, -32020), "Mcp-Name disagrees: {body}");
    let (status, _, body) =
        modern("tools/call>tools/list", Some("probe_echo"), "2026-07-28", call("2026-07-28")).await.expect("join");
    assert_eq!((status, rpc_code(&body)), (400, -32020), "Mcp-Method disagrees: {body}");
    let (status, _, body) =
        modern("tools/call", Some("probe_echo"), "2026-07-28", json!({"name": "probe_echo"})).await.expect("join");
    assert_eq!((status, rpc_code(&body)), (400, -32602), "no envelope: {body}");
    let (status, _, body) =
        modern("tools/call", Some("probe_echo"), "2099-01-01", call("2099-01-01")).await.expect("join");
    assert_eq!((status, rpc_code(&body)), (400, -32022), "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"]["data"]["requested"], "2099-01-01");
    assert!(v["error"]["data"]["supported"].as_array().is_some_and(|s| s.contains(&json!("2026-07-28"))), "{body}");
    let (status, _, body) =
        modern("nope/nothing", None, "2026-07-28", json!({"_meta": envelope("2026-07-28")})).await.expect("join");
    assert_eq!((status, rpc_code(&body)), (404, -32601), "{body}");

    assert!(!marker.exists(), "bad input reached the upstream");

    // DELETE ends the session; it is unknown afterwards.
    let s = session.clone();
    let (status, _, _) = tokio::task::spawn_blocking(move || request(addr, "DELETE", &[("Mcp-Session-Id", &s)], b""))
        .await
        .expect("join");
    assert_eq!(status, 204);
    let (status, _, _) = post(addr, Some(&session), br#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#.to_vec()).await;
    assert_eq!(status, 404);
    let (status, _, _) = tokio::task::spawn_blocking(move || request(addr, "DELETE", &[], b"")).await.expect("join");
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_names_the_target_that_is_down() {
    let targets = concat!(
        "    - name: broken\n      stdio: {command: sh, args: [\"-c\", \"exit 3\"]}\n",
        "    - name: missing\n      stdio: {command: /nonexistent/SECRET-TOOL}\n",
        "    - name: closed\n      streamableHttp: {url: \"http://127.0.0.1:9/mcp\"}\n",
    );
    let (_rt, addr) = start(&config(targets, "FailClosed")).await;
    let (_, headers, _) = post(addr, None, INITIALIZE.as_bytes().to_vec()).await;
    let session = header(&headers, "mcp-session-id").expect("a session id").to_string();
    let (status, _, body) =
        post(addr, Some(&session), br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec()).await;
    assert_eq!((status, rpc_code(&body)), (200, -32603), "{body}");
    assert!(body.contains("broken"), "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"]["data"]["sluice.dev/unavailableTargets"][0]["target"], "broken", "{body}");
    // Named, never described: no command, argument or address reaches the client.
    for hidden in ["SECRET-TOOL", "nonexistent", "exit 3", "127.0.0.1:9", "No such file"] {
        assert!(!body.contains(hidden), "{hidden} reached the client: {body}");
    }
    assert!(body.contains("missing") && body.contains("closed"), "{body}");
}

// ---- portable sessions -----------------------------------------------------------------------

/// A `sluice run` configuration: the listener on `port`, the time server as the only target,
/// and session ids sealed with `key`.
fn portable_config(port: u16, key: &str, targets: &str) -> String {
    let base = config_on(port, targets, "FailClosed");
    format!(
        "{base}  sessions: {{keySecretRef: {{name: mcp-sessions}}}}\n---\napiVersion: v1\nkind: Secret\n\
         metadata: {{name: mcp-sessions, namespace: default}}\nstringData: {{sessionKey: {key:?}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_key_serves_the_session() {
    require_servers();
    use support::process::{Gateway, free_port};
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = time_target(&dir.path().join("pid"), &dir.path().join("down"));
    let key = "one key for every replica, 32 bytes+";
    let start = |name: &str, key: &str| {
        let port = free_port();
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, portable_config(port, key, &targets)).expect("write config");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        (Gateway::start(&path), addr)
    };
    let (_a, first) = start("first", key);
    let (_b, second) = start("second", key);
    let (_c, foreign) = start("foreign", "another deployment's own session key");

    let (status, headers, body) = post(first, None, INITIALIZE.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let session = header(&headers, "mcp-session-id").expect("a session id").to_string();
    assert!(session.starts_with("s1."), "a sealed id: {session}");

    // The second process never saw the session: it opens the id and serves it.
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec();
    let (status, _, body) = post(second, Some(&session), initialized).await;
    assert_eq!(status, 202, "{body}");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "time_get_current_time", "arguments": {"timezone": "UTC"}}});
    let (status, _, body) = post(second, Some(&session), call.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert!(v["result"]["content"][0]["text"].as_str().unwrap_or_default().contains("UTC"), "{body}");
    // And the first goes on serving it too.
    let list = br#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#.to_vec();
    let (status, _, body) = post(first, Some(&session), list.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("time_get_current_time"), "{body}");

    // Another key, a changed byte, a made-up id: unknown sessions (404), answered in JSON-RPC.
    let (status, _, body) = post(foreign, Some(&session), list.clone()).await;
    assert_eq!((status, rpc_code(&body)), (404, -32600), "{body}");
    let mut tampered = session.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    for forged in [tampered.as_str(), "s1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "0123456789abcdef0123456789abcdef"]
    {
        let (status, _, body) = post(second, Some(forged), list.clone()).await;
        assert_eq!((status, rpc_code(&body)), (404, -32600), "{forged}: {body}");
    }

    // Ended on the second process: gone there.
    let s = session.clone();
    let (status, _, _) =
        tokio::task::spawn_blocking(move || request(second, "DELETE", &[("Mcp-Session-Id", s.as_str())], b""))
            .await
            .expect("join");
    assert_eq!(status, 204);
    let (status, _, body) = post(second, Some(&session), list).await;
    assert_eq!(status, 404, "{body}");
}

// ---- an rmcp client ---------------------------------------------------------------------------

/// Answers sampling like a client-side model would, and counts the requests.
#[derive(Clone, Default)]
struct Sampler {
    asked: Arc<std::sync::Mutex<Vec<String>>>,
}

#[allow(deprecated)] // sampling: deprecated by SEP-2577, still what server-everything asks for
impl rmcp::ClientHandler for Sampler {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut info = rmcp::model::ClientConfig::default();
        info.capabilities = serde_json::from_value(json!({"sampling": {}})).expect("capabilities");
        info.client_info = rmcp::model::Implementation::new("rmcp-test-client", "0");
        info
    }

    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _: rmcp::service::RequestContext<rmcp::service::RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        let asked = serde_json::to_value(&params.messages).expect("messages").to_string();
        self.asked.lock().expect("lock").push(asked);
        serde_json::from_value(json!({
            "role": "assistant",
            "content": {"type": "text", "text": "rmcp sampled this"},
            "model": "rmcp-side-model",
            "stopReason": "endTurn",
        }))
        .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))
    }
}

/// rmcp's own client (the library Sluice uses upstream) against Sluice: it lists the federated
/// tools, calls one on each target, and answers a target's sampling request through Sluice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_lists_calls_and_answers_sampling() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = time_target(&dir.path().join("pid"), &dir.path().join("down")) + &interactive_everything_target();
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    // reqwest is built without a crypto provider of its own (Sluice hands it a rustls
    // configuration on ring); this plain client needs the process default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().expect("reqwest");
    let config = StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"));
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let sampler = Sampler::default();
    let client = rmcp::serve_client(sampler.clone(), transport).await.expect("rmcp connects through Sluice");
    let server = client.peer().peer_info().and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()));
    assert_eq!(server.as_deref(), Some("sluice"));
    // rmcp 3.11 opens with `initialize`: the session era.
    let era = client.peer().peer_info().map(|i| i.protocol_version.to_string());
    assert_eq!(era.as_deref(), Some("2025-11-25"));

    let tools = client.peer().list_all_tools().await.expect("tools/list");
    let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    for want in ["time_get_current_time", "everything_echo", "everything_trigger-sampling-request"] {
        assert!(names.contains(&want.to_string()), "{want} missing from {names:?}");
    }
    let call = |name: &str, args: Value| {
        let mut p = CallToolRequestParams::new(name.to_string());
        p.arguments = args.as_object().cloned();
        p
    };
    let echo = client.call_tool(call("everything_echo", json!({"message": "from rmcp"}))).await.expect("echo");
    let echo = serde_json::to_value(&echo).expect("json");
    assert_eq!(echo["content"][0]["text"], "Echo: from rmcp", "{echo}");
    let time = client.call_tool(call("time_get_current_time", json!({"timezone": "UTC"}))).await.expect("time");
    assert_ne!(time.is_error, Some(true), "{time:?}");

    let sampled = client
        .call_tool(call("everything_trigger-sampling-request", json!({"prompt": "rmcp prompt", "maxTokens": 9})))
        .await
        .expect("the sampling round trip");
    let text =
        serde_json::to_value(&sampled).expect("json")["content"][0]["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("rmcp sampled this") && text.contains("rmcp-side-model"), "{text}");
    let asked = sampler.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("rmcp prompt"), "{asked:?}");
    client.cancel().await.expect("close");
}

// ---- the GET stream ---------------------------------------------------------------------------

/// Opens a session's GET stream and reads its events (`id`, message) until `want` came or
/// `within` passed; then the connection is dropped.
fn read_events(
    addr: SocketAddr,
    session: &str,
    last_event_id: Option<u64>,
    want: usize,
    within: Duration,
) -> (u16, Vec<(u64, Value)>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut head =
        format!("GET /mcp HTTP/1.1\r\nHost: mcp\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n");
    if let Some(id) = last_event_id {
        head.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    s.write_all(format!("{head}\r\n").as_bytes()).expect("write");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let deadline = Instant::now() + within;
    let mut raw = Vec::new();
    let parse = |raw: &[u8]| -> Vec<(u64, Value)> {
        let text = String::from_utf8_lossy(raw);
        let mut out = Vec::new();
        let mut id = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data: ")
                && let Some(n) = id.take()
            {
                out.push((n, serde_json::from_str(v).unwrap_or(Value::Null)));
            }
        }
        out
    };
    while Instant::now() < deadline && parse(&raw).len() < want {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, parse(&raw))
}

async fn events(addr: SocketAddr, session: String, last: Option<u64>, want: usize) -> (u16, Vec<(u64, Value)>) {
    tokio::task::spawn_blocking(move || read_events(addr, &session, last, want, Duration::from_secs(15)))
        .await
        .expect("join")
}

fn initialize_with(capabilities: Value) -> Vec<u8> {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "raw", "version": "0"}}});
    serde_json::to_vec(&msg).expect("json")
}

fn tool_call(id: u32, name: &str) -> Vec<u8> {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {}}});
    serde_json::to_vec(&msg).expect("json")
}

/// The session era's GET stream: a target's list change reaches the stream of every session
/// of the route; events missed while the stream was closed come back with `Last-Event-ID`;
/// what a client's own target session sends between its calls (server-everything's simulated
/// logging, started by a call) reaches that client's stream alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_get_stream_carries_what_targets_send_between_calls_and_resumes() {
    require_servers();
    let targets = paged_target("PAGED_GROWS: \"1\"") + &interactive_everything_target();
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;
    let (_, headers, body) = post(addr, None, initialize_with(json!({"sampling": {}}))).await;
    let a = header(&headers, "mcp-session-id").unwrap_or_else(|| panic!("{body}")).to_string();
    let (_, headers, body) = post(addr, None, initialize_with(json!({}))).await;
    let b = header(&headers, "mcp-session-id").unwrap_or_else(|| panic!("{body}")).to_string();
    let (status, _, body) = post(addr, Some(&b), br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec()).await;
    assert!(status == 200 && body.contains("paged_grow"), "{body}");

    // A list change while A's and B's streams are open: it comes live.
    let reader = tokio::spawn(events(addr, a.clone(), None, 1));
    let b_reader = tokio::spawn(events(addr, b.clone(), None, 2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _, body) = post(addr, Some(&b), tool_call(3, "paged_grow")).await;
    assert!(status == 200 && body.contains("1 grown"), "{body}");
    let (status, live) = reader.await.expect("join");
    assert_eq!(status, 200);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1["method"], "notifications/tools/list_changed", "{live:?}");
    let first = live[0].0;

    // Another while it is closed: kept, and replayed after the last event A saw.
    let (status, _, body) = post(addr, Some(&b), tool_call(4, "paged_grow")).await;
    assert!(status == 200 && body.contains("2 grown"), "{body}");
    let (status, replayed) = events(addr, a.clone(), Some(first), 1).await;
    assert_eq!(status, 200);
    assert_eq!(replayed.first().map(|(id, _)| *id), Some(first + 1), "{replayed:?}");
    assert_eq!(replayed[0].1["method"], "notifications/tools/list_changed");
    // B got both list changes too, live (server-everything's own may come among them: it
    // announces the tools it registers once a session's client capabilities are known).
    let (_, b_live) = b_reader.await.expect("join");
    assert!(b_live.len() >= 2, "{b_live:?}");
    assert!(b_live.iter().all(|(_, m)| m["method"] == "notifications/tools/list_changed"), "{b_live:?}");

    // A starts simulated logging in a call (answered as a stream: A takes server requests);
    // the logging that follows the call goes down A's GET stream, and not B's.
    let call = tool_call(5, "everything_toggle-simulated-logging");
    let (status, _, body) = post(addr, Some(&a), call).await;
    assert!(status == 200 && body.contains("Started simulated"), "{body}");
    // (server-everything may also ask A for its roots there: A is that session's client now.)
    let (status, logs) = events(addr, a.clone(), None, 2).await;
    assert_eq!(status, 200);
    assert!(logs.iter().any(|(_, m)| m["method"] == "notifications/message"), "{logs:?}");
    let (_, b_logs) = tokio::task::spawn_blocking({
        let b = b.clone();
        move || read_events(addr, &b, None, 1, Duration::from_secs(6))
    })
    .await
    .expect("join");
    assert!(!b_logs.iter().any(|(_, m)| m["method"] == "notifications/message"), "B saw A's logging: {b_logs:?}");

    // Wrong GETs.
    let (status, _) = events(addr, "not-a-session".to_string(), None, 1).await;
    assert_eq!(status, 404);
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        request(addr, "GET", &[("Mcp-Session-Id", a.as_str()), ("Accept", "application/json")], b"")
    })
    .await
    .expect("join");
    assert_eq!(status, 406);
}

// ---- cancellation ------------------------------------------------------------------------------

/// Waits up to `wait` for `file` to hold `lines` JSON lines.
fn cancel_log(file: &Path, lines: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let got: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if got.len() >= lines || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A call the client cancels (`notifications/cancelled`), or whose SSE answer it hangs up on,
/// is dropped, and the target is told with `notifications/cancelled` of its own request.
/// (The target is our stdlib server: it logs the cancellations it gets.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_is_cancelled_at_the_target() {
    require_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("cancelled.jsonl");
    let targets = paged_target(&format!("PAGED_CANCEL_LOG: {}", json!(log.display().to_string())));
    let (_rt, addr) = start(&config(&targets, "FailOpen")).await;

    // The client cancels: the POST is answered at once with the cancellation error.
    let (_, headers, body) = post(addr, None, initialize_with(json!({}))).await;
    let session = header(&headers, "mcp-session-id").unwrap_or_else(|| panic!("{body}")).to_string();
    let slow = {
        let session = session.clone();
        tokio::task::spawn_blocking(move || {
            let mut h = JSON_HEADERS.to_vec();
            h.push(("Mcp-Session-Id", &session));
            request(addr, "POST", &h, &tool_call(7, "paged_slow"))
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cancel =
        br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"changed my mind"}}"#;
    let (status, _, _) = post(addr, Some(&session), cancel.to_vec()).await;
    assert_eq!(status, 202);
    let (status, _, body) = slow.await.expect("join");
    assert_eq!((status, rpc_code(&body)), (200, -32800), "{body}");
    let told = cancel_log(&log, 1, Duration::from_secs(10));
    assert_eq!(told.len(), 1, "the target was not told: {told:?}");
    assert!(told[0]["requestId"].is_number(), "the target's own request id: {told:?}");

    // A client that takes server requests gets the call as a stream; it hangs up mid-call.
    let (_, headers, body) = post(addr, None, initialize_with(json!({"elicitation": {}}))).await;
    let session = header(&headers, "mcp-session-id").unwrap_or_else(|| panic!("{body}")).to_string();
    let head = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let body = tool_call(8, "paged_slow");
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: mcp\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(&body).expect("write");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).expect("the answer's head");
        std::thread::sleep(Duration::from_millis(1000));
        // The client goes away abruptly (a reset, as when it crashes).
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("linger");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .expect("join");
    assert!(head.contains("text/event-stream"), "{head}");
    // (Noticed when the stream is next written, at the latest by its keep-alive comment 15 s
    // after the last event.)
    let told = cancel_log(&log, 2, Duration::from_secs(25));
    assert_eq!(told.len(), 2, "the target was not told of the hang-up: {told:?}");
}

// ---- https targets -----------------------------------------------------------------------------

/// An `https://` target: server-everything behind a second Sluice that terminates TLS with a
/// certificate for 127.0.0.1 from a test CA. Trusting that CA (a ConfigMap), the federating
/// Sluice lists and calls through it; trusting the well-known roots instead, the target is
/// unavailable and the error says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_verified_against_its_ca() {
    require_servers();
    let remote = RemoteEverything::start("streamableHttp");
    let (ca, cert, key) = support::tls::loopback_server_cert();
    let front = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\n\
         spec: {{controllerName: sluice.dev/gateway-controller}}\n---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: front, namespace: default}}\n\
         spec:\n  gatewayClassName: sluice\n  listeners:\n    - name: https\n      protocol: HTTPS\n      port: 443\n      \
         tls: {{mode: Terminate, certificateRefs: [{{name: front-cert}}]}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: front-cert, namespace: default}}\ntype: kubernetes.io/tls\n\
         stringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: to-everything, namespace: default}}\n\
         spec:\n  parentRefs: [{{name: front}}]\n  rules: [{{backendRefs: [{{name: everything, port: 80}}]}}]\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: everything, namespace: default}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: everything-1, namespace: default, labels: {{kubernetes.io/service-name: everything}}}}\n\
         addressType: IPv4\nendpoints: [{{addresses: [127.0.0.1]}}]\nports: [{{name: http, port: {}}}]\n",
        support::yaml::block(&cert, 4),
        support::yaml::block(&key, 4),
        remote.port
    );
    let loaded = sluice::config::parse_text("front.yaml", &front);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let front_rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let snapshot = front_rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    assert!(snapshot.status.problems().is_empty(), "{:?}", snapshot.status.problems());
    let front_addr = front_rt.listener_addr("default", "front", 443).expect("the TLS listener is bound");

    let targets = format!(
        "    - name: secure\n      streamableHttp: {{url: \"https://{front_addr}/mcp\"}}\n      \
         tls: {{caCertificateRefs: [{{name: test-ca}}]}}\n    \
         - name: untrusted\n      streamableHttp: {{url: \"https://{front_addr}/mcp\"}}\n"
    );
    let ca_map = format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: test-ca, namespace: default}}\ndata:\n  ca.crt: |\n{}",
        support::yaml::block(&ca, 4)
    );
    let (_rt, addr) = start(&(config(&targets, "FailOpen") + &ca_map)).await;
    let (status, headers, body) = post(addr, None, INITIALIZE.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let session = header(&headers, "mcp-session-id").expect("a session").to_string();
    let list = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec();
    let (_, _, body) = post(addr, Some(&session), list).await;
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let names: Vec<&str> =
        v["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"secure_echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("untrusted_")), "{names:?}");
    let missing = &v["result"]["_meta"]["sluice.dev/unavailableTargets"];
    assert_eq!(missing[0]["target"], "untrusted", "{body}");
    let why = missing[0]["error"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(why.contains("certificate") || why.contains("unknownissuer"), "{why}");
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "secure_echo", "arguments": {"message": "over TLS"}}});
    let (_, _, body) = post(addr, Some(&session), serde_json::to_vec(&call).expect("json")).await;
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["result"]["content"][0]["text"], "Echo: over TLS", "{body}");
}

/// A target that asks for input as 2026-07-28 servers do (`input_required`, here our stdlib
/// server): Sluice relays the question to the client — as an `elicitation/create` request to a
/// session-era client, as `input_required` again to a stateless one — and sends the call again
/// with the answer and the target's `requestState`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_input_required_reaches_clients_of_both_eras() {
    require_servers();
    let (_rt, addr) = start(&config(&paged_target("PAGED_ASKS: \"1\""), "FailOpen")).await;
    for (scenario, era) in [("input_required", "2025-11-25"), ("input_required_auto", "2026-07-28")] {
        let out = run_client(scenario, addr, &[]).await;
        assert_eq!(out["protocol_version"], era, "{scenario}: {out}");
        assert_eq!(out["asked"], json!(["Who is asking?"]), "{scenario}: {out}");
        assert_eq!(out["ask"]["text"], "hello Grace Hopper", "{scenario}: {out}");
    }
}

/// `subscriptions/listen` (2026-07-28) with the SDK's own listener: acknowledged with what
/// Sluice honors (tool list changes; resource subscriptions are not offered), then a target's
/// tool list change arrives on the stream, and the client's next listing has the new tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_listens_for_list_changes() {
    require_servers();
    let (_rt, addr) = start(&config(&paged_target("PAGED_GROWS: \"1\""), "FailOpen")).await;
    let out = run_client("listen_changes", addr, &[]).await;
    assert_eq!(out["protocol_version"], "2026-07-28", "{out}");
    assert_eq!(out["honored"], json!({"toolsListChanged": true}), "{out}");
    assert_eq!(out["grown"]["text"], "1 grown", "{out}");
    assert_eq!(out["event"], "ToolsListChanged", "{out}");
    assert!(!strings(&out["before"]).contains(&"paged_grown0".to_string()), "{out}");
    assert!(strings(&out["after"]).contains(&"paged_grown0".to_string()), "{out}");
}

/// Reads from `s` until `needle` has come (or 10 s passed); returns what was read.
fn read_until(s: &mut std::net::TcpStream, needle: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut raw = Vec::new();
    while Instant::now() < deadline && !String::from_utf8_lossy(&raw).contains(needle) {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// A target's list change reaches an old client's HTTP+SSE stream too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changes_reach_legacy_sse_streams() {
    require_servers();
    let (_rt, addr) = start(&config(&paged_target("PAGED_GROWS: \"1\""), "FailOpen")).await;
    let (mut stream, endpoint) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /mcp HTTP/1.1\r\nHost: mcp\r\nAccept: text/event-stream\r\n\r\n").expect("write");
        let head = read_until(&mut s, "session_id=");
        let endpoint = head
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no endpoint event: {head}"));
        (s, endpoint)
    })
    .await
    .expect("join");
    let init = initialize_with(json!({}));
    let (status, _) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST {endpoint} HTTP/1.1\r\nHost: mcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            init.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(&init).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        (out.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0), out)
    })
    .await
    .expect("join");
    assert_eq!(status, 202);
    // Another client (session era) makes the target's tools change.
    let (_, headers, body) = post(addr, None, initialize_with(json!({}))).await;
    let other = header(&headers, "mcp-session-id").unwrap_or_else(|| panic!("{body}")).to_string();
    let (status, _, body) = post(addr, Some(&other), tool_call(2, "paged_grow")).await;
    assert!(status == 200 && body.contains("1 grown"), "{body}");
    let seen = tokio::task::spawn_blocking(move || read_until(&mut stream, "notifications/tools/list_changed"))
        .await
        .expect("join");
    assert!(seen.contains("notifications/tools/list_changed"), "{seen}");
}

/// A legacy (HTTP+SSE) session lives as long as its GET stream: once the client closes the
/// stream, a message to the session's endpoint is refused as an unknown session (it no longer
/// waits 30 idle minutes, holding a slot of the route's session cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_session_ends_with_its_stream() {
    require_servers();
    let (_rt, addr) = start(&config(&paged_target("PAGED_GROWS: \"1\""), "FailOpen")).await;
    let post_init = move |endpoint: String| {
        let init = initialize_with(json!({}));
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let head = format!(
            "POST {endpoint} HTTP/1.1\r\nHost: mcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            init.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(&init).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0)
    };
    let codes = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /mcp HTTP/1.1\r\nHost: mcp\r\nAccept: text/event-stream\r\n\r\n").expect("write");
        let head = read_until(&mut s, "session_id=");
        let endpoint = head
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no endpoint event: {head}"));
        let while_open = post_init(endpoint.clone());
        drop(s);
        // The gateway sees the stream closed at its next write: a keep-alive comment at most
        // 15 s later, or at once when the reset arrives. Bounded: 40 tries, 25 s.
        let mut after_close = 0;
        for _ in 0..40 {
            after_close = post_init(endpoint.clone());
            if after_close == 404 {
                break;
            }
            std::thread::sleep(Duration::from_millis(625));
        }
        (while_open, after_close)
    })
    .await
    .expect("join");
    assert_eq!(codes, (202, 404), "(while the stream is open, after it closed)");
}

// ---- redirects ----------------------------------------------------------------------------------

/// An MCP target that answers every request with a redirect to another host never gets it
/// followed: a redirect would carry the target's headers (here a key from a Secret) elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_redirect_is_not_followed() {
    use std::io::{Read as _, Write as _};
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let elsewhere_port = elsewhere.local_addr().expect("addr").port();
    elsewhere.set_nonblocking(true).expect("nonblocking");
    let target = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target_port = target.local_addr().expect("addr").port();
    let (asked_tx, asked) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for s in target.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = asked_tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
            let _ = write!(
                s,
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere_port}/mcp\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    let targets = format!(
        "    - name: moved\n      streamableHttp: {{url: \"http://127.0.0.1:{target_port}/mcp\"}}\n      \
         headersFromSecrets: {{authorization: {{name: target-key, key: token}}}}\n"
    );
    let config = config(&targets, "FailOpen")
        + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: target-key, namespace: default}\n\
           stringData: {token: Bearer REDIRECTED-KEY}\n";
    let (_rt, addr) = start(&config).await;
    let (_, headers, _) = post(addr, None, INITIALIZE.as_bytes().to_vec()).await;
    let session = header(&headers, "mcp-session-id").expect("a session id").to_string();
    let (status, _, body) =
        post(addr, Some(&session), br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let first = asked.recv_timeout(Duration::from_secs(10)).expect("the target was asked");
    assert!(first.contains("REDIRECTED-KEY"), "the target got its key: {first}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let followed = elsewhere.accept();
    assert!(followed.is_err(), "the redirect was followed to another host");
    assert!(body.contains("moved"), "the target is reported unavailable: {body}");
}
