//! Observability end to end (docs/observability.md): a scripted mix of traffic through an
//! in-process gateway (plain proxying to the echo server, OpenAI chat streamed and not, an
//! Anthropic client's stream translated to an OpenAI provider, a model outside the
//! configuration, MCP calls to the real `mcp-server-time`), then one scrape of the admin
//! plane's `/metrics`. The scrape is parsed by an independent OpenMetrics parser (the official
//! Python `prometheus_client`'s), and the series must carry exactly what the fake provider
//! reported. The fake OpenAI API is written from the published protocol (no real provider can
//! run here).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use support::fake_llm::openai::{Behaviour, FakeOpenAi, Reply, Script, Usage};
use support::gateway::request;

const MODEL: &str = "gpt-6.2-sol";

/// Routes `llm` (`/v1`, to the AIBackend `openai`), `mcp` (`/mcp`, to the MCPBackend `tools` of
/// the real time server) and `plain` (everything else, to the echo server).
/// An HTTPRoute `default/<route>` on the Gateway `gw`: requests under `prefix` to `backend`.
fn prefix_route(route: &str, prefix: &str, backend: &str) -> String {
    format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {route}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]
      backendRefs: [{backend}]
"#
    )
}

fn config(openai_port: u16, echo_port: u16) -> String {
    let mut out = support::yaml::gateway_route(80, "plain", &["{name: echo, port: 80}"]);
    for (route, prefix, backend) in [
        ("llm", "/v1", "{group: sluice.dev, kind: AIBackend, name: openai}"),
        ("mcp", "/mcp", "{group: sluice.dev, kind: MCPBackend, name: tools}"),
    ] {
        out += &prefix_route(route, prefix, backend);
    }
    out + &support::yaml::openai_backend("openai", openai_port)
        + &support::yaml::local_service("echo", echo_port)
        + &support::yaml::time_mcp_backend()
}

/// A route `traced` (`/traced`) to the MCPBackend `traced`, whose one target
/// (tests/mcp/traced_server.py, on the official MCP SDK) answers the trace context it received.
fn traced_mcp_route() -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/traced_server.py");
    prefix_route("traced", "/traced", "{group: sluice.dev, kind: MCPBackend, name: traced}")
        + &format!(
            r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {{name: traced, namespace: default}}
spec:
  targets:
    - name: traced
      stdio: {{command: python3, args: [{script:?}]}}
"#
        )
}

/// An `initialize` request of the 2025-06-18 era.
fn mcp_init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

/// The samples of a scrape as the Python parser read them: `name{labels}` → value.
fn parse_openmetrics(text: &str) -> BTreeMap<String, f64> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the scrape");
    }
    let out = child.wait_with_output().expect("python3 ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "install the parser: pip install -r tests/python/requirements.txt\n{stderr}"
    );
    assert!(out.status.success(), "the scrape is not valid OpenMetrics:\n{stderr}\n---\n{text}");
    serde_json::from_slice(&out.stdout).expect("the parser's JSON")
}

/// The value of the sample `name` whose labels include every one of `labels`, summed over the
/// samples that match (0 when none does).
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.split_once('{').is_some_and(|(n, _)| n == name))
        .filter(|(k, _)| labels.iter().all(|(l, v)| k.contains(&format!("{l}=\"{v}\""))))
        .map(|(_, v)| *v)
        .sum()
}

async fn chat(addr: SocketAddr, model: &str, stream: bool) -> (u16, String) {
    let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &[], &body.to_string()).await;
    (status, body)
}

async fn mcp(addr: SocketAddr, session: Option<&str>, body: Value) -> (u16, String, String) {
    let headers: Vec<(&str, &str)> = session.map(|s| ("mcp-session-id", s)).into_iter().collect();
    request(addr, "POST", "/mcp", &headers, &body.to_string()).await
}

/// The scripted mix: plain proxying, OpenAI chat whole and streamed, an Anthropic client's stream
/// translated, a model outside the configuration, embeddings, and an MCP session with a listing, a call to
/// the time server and a call to no tool.
async fn scripted_traffic(addr: SocketAddr) {
    // Plain proxying.
    let (status, _, _) = request(addr, "GET", "/plain/hello", &[], "").await;
    assert_eq!(status, 200);
    // OpenAI chat, whole then streamed.
    assert_eq!(chat(addr, MODEL, false).await.0, 200);
    let (status, sse) = chat(addr, MODEL, true).await;
    assert_eq!(status, 200);
    assert!(sse.contains("[DONE]"), "{sse}");
    // An Anthropic client's stream, translated to the OpenAI provider.
    let anthropic =
        json!({"model": MODEL, "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, sse) = request(addr, "POST", "/v1/messages", &[], &anthropic.to_string()).await;
    assert_eq!(status, 200, "{sse}");
    assert!(sse.contains("message_stop"), "{sse}");
    // A model the configuration and the catalog do not name: labelled `other`.
    assert_eq!(chat(addr, "made-up-model-7", false).await.0, 200);
    // Embeddings: the provider's prompt tokens (23) are its usage.
    let embed = json!({"model": "text-embedding-3-small", "input": ["one", "two"]});
    let (status, _, body) = request(addr, "POST", "/v1/embeddings", &[], &embed.to_string()).await;
    assert_eq!(status, 200, "{body}");

    mcp_traffic(addr).await;
}

/// An MCP session: a listing, a call to the real time server's tool, and a call to no tool.
async fn mcp_traffic(addr: SocketAddr) {
    let (status, head, body) = mcp(addr, None, mcp_init()).await;
    assert_eq!(status, 200, "{body}");
    let session = support::gateway::header(&head, "mcp-session-id").expect("a session id").to_string();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(mcp(addr, Some(&session), initialized).await.0, 202);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, _, body) = mcp(addr, Some(&session), list).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("time_get_current_time"), "{body}");
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "time_get_current_time", "arguments": {"timezone": "UTC"}}});
    let (status, _, body) = mcp(addr, Some(&session), call).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("datetime"), "{body}");
    let missing = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "no_such_tool"}});
    let (_, _, body) = mcp(addr, Some(&session), missing).await;
    assert!(body.contains("\"error\""), "{body}");
}

/// A gateway for the scripted mix, with its admin plane: the fake provider answers four calls
/// with 11/7, 13/5, 17/3 and 19/2 tokens.
async fn gateway_for_the_mix(
    extra: &str,
) -> (FakeOpenAi, support::echo::EchoHandle, std::sync::Arc<sluice::runtime::Runtime>, SocketAddr, SocketAddr) {
    let ok = std::process::Command::new("python3").args(["-c", "import mcp_server_time, prometheus_client"]).status();
    assert!(ok.is_ok_and(|s| s.success()), "install the test clients: bash scripts/test.sh (pip requirements)");
    let reply = |input, output| Behaviour::Reply(Reply::text("Hello there, friend.").usage(Usage::new(input, output)));
    let script = [reply(11, 7), reply(13, 5), reply(17, 3), reply(19, 2), reply(23, 0)];
    let fake = FakeOpenAi::start(Script::queue(script)).await;
    let echo = support::echo::start_local("echo-1", "echo").await;
    let (rt, addr) = support::gateway::start(&(config(fake.port(), echo.http_port) + extra)).await;
    let admin = sluice::admin::serve("127.0.0.1:0".parse().expect("addr"), rt.clone()).await.expect("admin");
    (fake, echo, rt, addr, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_scripted_traffic_carries_the_exact_figures() {
    let (fake, _echo, _rt, addr, admin) = gateway_for_the_mix("").await;
    scripted_traffic(addr).await;

    let (status, head, text) = request(admin, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/openmetrics-text; version=1.0.0"), "{head}");
    let m = parse_openmetrics(&text);

    // Plain requests, by route and code; every request by listener; the backend's waits.
    assert_eq!(sum(&m, "sluice_requests_total", &[("route", "default/plain/0"), ("code", "200")]), 1.0, "{text}");
    let listener = [("gateway", "default/gw"), ("listener", "http")];
    assert_eq!(sum(&m, "sluice_listener_requests_total", &listener), 11.0, "1 plain, 5 AI, 5 MCP");
    let echo = [("backend", "default/echo:80")];
    assert_eq!(sum(&m, "sluice_upstream_response_duration_seconds_count", &echo), 1.0);
    assert_eq!(sum(&m, "sluice_upstream_connect_duration_seconds_count", &echo), 1.0, "one connection, kept");
    let provider = [("backend", "default/openai/openai")];
    assert!(sum(&m, "sluice_upstream_connect_duration_seconds_count", &provider) >= 1.0, "{text}");
    // GenAI token usage: input and output exactly as the fake reported, per model label.
    let named =
        [("gen_ai_request_model", MODEL), ("gen_ai_provider_name", "openai"), ("gen_ai_operation_name", "chat")];
    let input = [&named[..], &[("gen_ai_token_type", "input")]].concat();
    let output = [&named[..], &[("gen_ai_token_type", "output")]].concat();
    assert_eq!(sum(&m, "gen_ai_client_token_usage_sum", &input), 41.0, "11 + 13 + 17:\n{text}");
    assert_eq!(sum(&m, "gen_ai_client_token_usage_count", &input), 3.0);
    assert_eq!(sum(&m, "gen_ai_client_token_usage_sum", &output), 15.0, "7 + 5 + 3");
    let other = [("gen_ai_request_model", "other"), ("gen_ai_response_model", "other"), ("gen_ai_token_type", "input")];
    assert_eq!(
        sum(&m, "gen_ai_client_token_usage_sum", &[&other[..], &[("gen_ai_operation_name", "chat")]].concat()),
        19.0
    );
    // Embeddings: input tokens only, under their own operation.
    let embeddings = [("gen_ai_operation_name", "embeddings"), ("gen_ai_provider_name", "openai")];
    assert_eq!(
        sum(&m, "gen_ai_client_token_usage_sum", &[&embeddings[..], &[("gen_ai_token_type", "input")]].concat()),
        23.0
    );
    assert_eq!(sum(&m, "gen_ai_client_token_usage_count", &embeddings), 1.0, "no output tokens for embeddings");
    assert_eq!(sum(&m, "gen_ai_client_operation_duration_seconds_count", &embeddings), 1.0);
    assert!(!text.contains("made-up-model-7"), "a model outside the configuration is never a label");
    assert_eq!(sum(&m, "gen_ai_client_operation_duration_seconds_count", &named), 3.0);
    // Time to first token: the two streams only.
    assert_eq!(sum(&m, "gen_ai_server_time_to_first_token_seconds_count", &named), 2.0);
    assert_eq!(sum(&m, "gen_ai_server_time_per_output_token_seconds_count", &named), 2.0);
    // Sluice's own token classes and attempts agree.
    let tokens = [("model", MODEL), ("class", "input")];
    assert_eq!(sum(&m, "sluice_ai_tokens_total", &tokens), 41.0);
    assert_eq!(sum(&m, "sluice_ai_tokens_total", &[("model", "other"), ("class", "input")]), 19.0 + 23.0);
    assert_eq!(sum(&m, "sluice_ai_attempts_total", &[("outcome", "success")]), 5.0);
    // MCP.
    let tool = [("method", "tools/call"), ("target", "default/tools/time"), ("tool", "get_current_time")];
    assert_eq!(sum(&m, "mcp_requests_total", &[&tool[..], &[("result", "ok")]].concat()), 1.0, "{text}");
    assert_eq!(sum(&m, "mcp_requests_total", &[("method", "tools/list"), ("result", "ok")]), 1.0);
    assert_eq!(sum(&m, "mcp_requests_total", &[("method", "tools/call"), ("target", "-"), ("result", "error")]), 1.0);
    assert_eq!(sum(&m, "mcp_request_duration_seconds_count", &[("method", "tools/call")]), 2.0);
    assert_eq!(sum(&m, "mcp_requests_total", &[("method", "initialize"), ("result", "ok")]), 1.0);
    assert_eq!(sum(&m, "mcp_sessions_open", &[]), 1.0);
    assert_eq!(sum(&m, "sluice_config_reloads_total", &[("result", "success")]), 1.0);
    grafana_queries_name_served_families(&text);
    // Usage by identity (`/usage`): the mix had none, so one row without an identity.
    let (_, _, usage) = request(admin, "GET", "/usage", &[], "").await;
    let usage: Value = serde_json::from_str(&usage).expect("JSON");
    let row = json!({"identity": null, "requests": 5, "input_tokens": 83, "output_tokens": 17});
    let got = &usage["identities"][0];
    assert_eq!(usage["identities"].as_array().map(Vec::len), Some(1), "{usage}");
    for key in ["identity", "requests", "input_tokens", "output_tokens"] {
        assert_eq!(got[key], row[key], "{key}: {usage}");
    }
    drop(fake);
}

/// Every series the starter Grafana dashboard queries is one `/metrics` declares after the mix,
/// or (a family with no sample yet is not written: upstream errors, guard decisions) one that
/// docs/observability.md lists.
fn grafana_queries_name_served_families(scrape: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/sluice.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/observability.md")).expect("doc");
    let documented = |name: &str| doc.contains(&format!("| `{name}` |"));
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            let is_label = |n: &str| scrape.contains(&format!("{n}=\""));
            for name in
                names.filter(|n| ["sluice_", "gen_ai_", "mcp_"].iter().any(|p| n.starts_with(p)) && !is_label(n))
            {
                let family = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name);
                let declared = scrape
                    .lines()
                    .any(|l| l.strip_prefix("# TYPE ").is_some_and(|t| t.starts_with(&format!("{family} "))));
                assert!(
                    declared || documented(name) || documented(family),
                    "{} queries {name}, which /metrics does not declare nor docs/observability.md list",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 14, "the dashboard's queries were read ({checked})");
}

/// The lines of an access log file once `n` are there (bounded wait: the writer is a thread).
async fn lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    lines_where(path, n, |_| true).await
}

/// The lines of an access log file that pass `keep`, once `n` are there.
async fn lines_where(path: &std::path::Path, n: usize, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).filter(|l| keep(l)).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} lines in {}: {:?}", path.display(), std::fs::read_to_string(path));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_carry_each_field_and_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, errors, mcp) = (dir.path().join("all.log"), dir.path().join("errors.log"), dir.path().join("mcp.log"));
    let reply = |input, output| Behaviour::Reply(Reply::text("Hello there, friend.").usage(Usage::new(input, output)));
    let fake = FakeOpenAi::start(Script::queue([reply(23, 9), reply(29, 4)])).await;
    let echo = support::echo::start_local("echo-1", "echo").await;
    let keys = r#"---
apiVersion: v1
kind: Secret
metadata: {name: virtual-keys, namespace: default}
stringData: {alice: sk-alice-SECRET-0001}
"#;
    let policies = keys.to_string()
        + &support::yaml::route_policy(
            "keys-and-log",
            &format!(
                "  authentication: {{apiKeys: {{secretRefs: [{{name: virtual-keys}}]}}}}\n  models: [\"gpt-6.2-*\"]\n  accessLog: {{path: {all:?}}}\n"
            ),
        )
        + &support::yaml::policy_on_route(
            "plain",
            "errors-only",
            &format!(
                "  accessLog: {{path: {errors:?}, statuses: [\"4xx\", \"500-599\"], fields: [route, status, path, duration_ms, endpoint, upstream_ms, attempts]}}\n"
            ),
        )
        + &support::yaml::policy_on_route(
            "mcp",
            "mcp-log",
            &format!("  accessLog: {{path: {mcp:?}, fields: [route, mcp_method, mcp_target, mcp_tool, mcp_result]}}\n"),
        );
    let (rt, addr) = support::gateway::start(&(config(fake.port(), echo.http_port) + &policies)).await;
    let admin = sluice::admin::serve("127.0.0.1:0".parse().expect("addr"), rt.clone()).await.expect("admin");

    let key = [("authorization", "Bearer sk-alice-SECRET-0001")];
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "PROMPT-TEXT-42"}]});
    let (status, _, _) =
        request(addr, "POST", "/v1/chat/completions?token=QUERY-SECRET", &key, &body.to_string()).await;
    assert_eq!(status, 200);
    let streamed = json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "PROMPT-TEXT-42"}]});
    let (status, _, sse) = request(addr, "POST", "/v1/chat/completions", &key, &streamed.to_string()).await;
    assert!(status == 200 && sse.contains("[DONE]"), "{sse}");
    let wrong = [("authorization", "Bearer sk-wrong-SECRET-0002")];
    let (status, _, _) = request(addr, "POST", "/v1/chat/completions", &wrong, &body.to_string()).await;
    assert_eq!(status, 401);
    // Admitted, then refused once the model is known: the policy's model list.
    let other = json!({"model": "made-up-model-7", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) = request(addr, "POST", "/v1/chat/completions", &key, &other.to_string()).await;
    assert_eq!(status, 403);
    // The plain route logs errors only: the 200 is not written, the 404 is.
    assert_eq!(request(addr, "GET", "/plain/fine", &[], "").await.0, 200);
    let (status, _, _) = request(addr, "GET", "/status/404", &[], "").await;
    assert_eq!(status, 404);

    let logged = lines(&all, 4).await;
    let text = std::fs::read_to_string(&all).expect("log");
    for secret in ["SECRET", "PROMPT-TEXT-42", "Bearer"] {
        assert!(!text.contains(secret), "{secret} in the access log:\n{text}");
    }
    let (whole, stream, refused, forbidden) = (&logged[0], &logged[1], &logged[2], &logged[3]);
    assert_eq!(whole["route"], "default/llm/0");
    assert_eq!(whole["method"], "POST");
    assert_eq!(whole["path"], "/v1/chat/completions", "no query string");
    assert_eq!(whole["status"], 200);
    assert_eq!(whole["client_ip"], "127.0.0.1");
    assert_eq!(whole["identity"], "alice");
    assert_eq!(whole["policy"], "allowed");
    assert_eq!(whole["provider"], "openai");
    assert_eq!((whole["request_model"].as_str(), whole["response_model"].as_str()), (Some(MODEL), Some(MODEL)));
    assert_eq!((whole["input_tokens"].as_u64(), whole["output_tokens"].as_u64()), (Some(23), Some(9)));
    assert_eq!(whole["tokens_estimated"], false);
    assert_eq!(whole["finish_reason"], "stop");
    assert_eq!(whole["attempts"], 1);
    let wait = whole["upstream_ms"].as_f64().expect("the provider's wait");
    assert!(whole["duration_ms"].as_f64().is_some_and(|d| wait > 0.0 && wait <= d), "{whole}");
    assert!(whole["cost_usd"].as_f64().is_some_and(|c| c > 0.0), "{whole}");
    assert!(whole["duration_ms"].as_f64().is_some_and(|d| d > 0.0));
    assert!(whole["bytes"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(whole["complete"], true);
    assert!(whole["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 24), "{whole}");
    assert_eq!((stream["input_tokens"].as_u64(), stream["output_tokens"].as_u64()), (Some(29), Some(4)));
    let (first, total) = (stream["first_byte_ms"].as_f64().expect("first byte"), stream["duration_ms"].as_f64());
    assert!(total.is_some_and(|t| first <= t), "{stream}");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["policy"], "unauthenticated");
    assert!(refused.get("identity").is_none() && refused.get("provider").is_none(), "{refused}");
    assert_eq!((forbidden["status"].as_u64(), forbidden["identity"].as_str()), (Some(403), Some("alice")));
    assert_eq!(forbidden["policy"], "forbidden", "the later decision, not the admission's: {forbidden}");

    // The decisions after admission are counted; usage by identity adds up what alice used.
    let (_, _, scrape) = request(admin, "GET", "/metrics", &[], "").await;
    let m = parse_openmetrics(&scrape);
    let access = [("stage", "model"), ("check", "model_access")];
    assert_eq!(sum(&m, "sluice_policy_stage_decisions_total", &[&access[..], &[("result", "allowed")]].concat()), 2.0);
    assert_eq!(
        sum(&m, "sluice_policy_stage_decisions_total", &[&access[..], &[("result", "forbidden")]].concat()),
        1.0
    );
    let (status, _, usage) = request(admin, "GET", "/usage?top=5", &[], "").await;
    assert_eq!(status, 200, "{usage}");
    let usage: Value = serde_json::from_str(&usage).expect("JSON");
    let alice = &usage["identities"][0];
    assert_eq!(alice["identity"], "alice", "{usage}");
    assert_eq!((alice["requests"].as_u64(), alice["input_tokens"].as_u64()), (Some(2), Some(23 + 29)));
    assert_eq!(alice["output_tokens"].as_u64(), Some(9 + 4));
    let logged_cost: f64 = [whole, stream].iter().filter_map(|l| l["cost_usd"].as_f64()).sum();
    assert!((alice["cost_usd"].as_f64().expect("cost") - logged_cost).abs() < 1e-12, "{usage}");
    assert_eq!(request(admin, "GET", "/usage?top=many", &[], "").await.0, 400);

    // MCP: one line per message handled (within the session: the listing and the two calls),
    // besides the lines of the HTTP requests that carried them.
    mcp_traffic(addr).await;
    let messages = lines_where(&mcp, 4, |l| l.get("mcp_method").is_some()).await;
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[0], json!({"route": "default/mcp/0", "mcp_method": "initialize", "mcp_result": "ok"}));
    let messages = &messages[1..];
    assert_eq!(messages[0], json!({"route": "default/mcp/0", "mcp_method": "tools/list", "mcp_result": "ok"}));
    assert_eq!(
        messages[1],
        json!({"route": "default/mcp/0", "mcp_method": "tools/call", "mcp_target": "default/tools/time",
               "mcp_tool": "get_current_time", "mcp_result": "ok"})
    );
    assert_eq!(messages[2]["mcp_method"], "tools/call");
    assert!(messages[2]["mcp_result"].as_str().is_some_and(|r| r.starts_with("error ")), "{:?}", messages[2]);

    let errors_logged = lines(&errors, 1).await;
    assert_eq!(errors_logged.len(), 1, "only the error: {errors_logged:?}");
    let e = &errors_logged[0];
    let keys: Vec<&str> = e.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["attempts", "duration_ms", "endpoint", "path", "route", "status", "upstream_ms"],
        "the selected fields only"
    );
    assert_eq!(e["path"], "/status/404");
    assert_eq!(e["endpoint"], format!("127.0.0.1:{}", echo.http_port), "the endpoint that answered");
    assert_eq!(e["attempts"], 1);
    let (wait, total) = (e["upstream_ms"].as_f64().expect("wait"), e["duration_ms"].as_f64().expect("total"));
    assert!(wait > 0.0 && wait <= total, "{e}");
    drop(fake);
}

/// The prompt is logged only by a log that names it, as the guards left it, cut to 256 bytes; a
/// log with the default fields never has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_is_logged_only_when_named_masked_and_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (named, default) = (dir.path().join("named.log"), dir.path().join("default.log"));
    let sections = format!(
        "  guards:\n    - {{name: tickets, regex: [{{pattern: 'ACME-[0-9]{{6}}', maxLength: 11}}]}}\n  \
         accessLog: {{path: {named:?}, fields: [route, prompt]}}\n"
    );
    let policies = support::yaml::route_policy("prompts", &sections)
        + &support::yaml::policy_on_route("plain", "plain-log", &format!("  accessLog: {{path: {default:?}}}\n"));
    let (_fake, _echo, _rt, addr, _admin) = gateway_for_the_mix(&policies).await;
    let long = format!("Ticket ACME-123456 says: {}", "é".repeat(200));
    let body = json!({"model": MODEL, "messages": [
        {"role": "system", "content": "SYSTEM-PROMPT-TEXT"},
        {"role": "user", "content": "an earlier turn"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": long}]});
    let (status, _, answer) = request(addr, "POST", "/v1/chat/completions", &[], &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(request(addr, "POST", "/plain/x", &[], &body.to_string()).await.0, 200);

    let line = &lines(&named, 1).await[0];
    let prompt = line["prompt"].as_str().unwrap_or_else(|| panic!("{line}"));
    assert!(prompt.starts_with("Ticket [REDACTED] says: éé"), "masked by the guard: {prompt}");
    assert!(prompt.ends_with('…') && prompt.len() <= 256 + '…'.len_utf8(), "cut: {} bytes", prompt.len());
    assert!(!prompt.contains("SYSTEM-PROMPT-TEXT") && !prompt.contains("earlier"), "{prompt}");
    lines(&default, 1).await;
    let plain = std::fs::read_to_string(&default).expect("log");
    assert!(!plain.contains("prompt") && !plain.contains("Ticket"), "the default fields never hold it: {plain}");
}

/// The dashboard in a real browser (headless Chromium over the DevTools protocol) against a
/// gateway that has served the scripted mix: the routes, a non-zero token chart and the MCP
/// target appear, live traffic moves the rate, nothing is reported on the console, and a
/// screenshot is kept under the test's output folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_routes_tokens_and_mcp_targets_in_a_browser() {
    let (_fake, _echo, _rt, addr, admin) = gateway_for_the_mix("").await;
    scripted_traffic(addr).await;
    let mut browser = support::cdp::Browser::launch().await;
    let page = browser.page().await;
    browser.goto(&page, &format!("http://{admin}/ui")).await;

    let loaded = "document.querySelectorAll('#routes tbody tr[data-route]').length >= 3";
    assert!(browser.wait_for(&page, loaded, std::time::Duration::from_secs(15)).await, "the routes never showed");
    let routes =
        browser.eval(&page, "[...document.querySelectorAll('#routes tr[data-route]')].map(r => r.dataset.route)").await;
    for route in ["default/llm/0", "default/mcp/0", "default/plain/0"] {
        assert!(routes.as_array().expect("a list").iter().any(|r| r == route), "{route} not in {routes}");
    }
    let tokens = browser.eval(&page, "Number(document.getElementById('token-chart').dataset.total)").await;
    assert_eq!(tokens.as_f64(), Some(41.0 + 15.0 + 21.0 + 23.0), "the token chart adds up every call's tokens");
    let models =
        browser.eval(&page, "[...document.querySelectorAll('#models tr[data-model]')].map(r => r.dataset.model)").await;
    assert_eq!(models, json!(["gpt-6.2-sol", "other"]));
    // By identity: the mix sent no credentials, so all of it is one row without an identity.
    let who = browser
        .eval(&page, "[...document.querySelectorAll('#identities tr[data-identity]')].map(r => r.innerText)")
        .await;
    let who = who.as_array().expect("rows");
    assert_eq!(who.len(), 1, "{who:?}");
    let cells: Vec<&str> = who[0].as_str().expect("text").split('\t').map(str::trim).collect();
    assert_eq!(cells[..4], ["(no identity)", "5", "83", "17"], "requests, input 41 + 19 + 23, output 15 + 2");
    let chart = browser.eval(&page, "Number(document.getElementById('identity-chart').dataset.total)").await;
    assert_eq!(chart.as_f64(), Some(100.0));
    let mcp = "document.querySelector('#mcp tr[data-target=\"default/tools/time\"]')?.innerText ?? ''";
    let row = browser.eval(&page, mcp).await;
    let row = row.as_str().expect("text");
    assert!(row.contains("up") && row.contains("get_current_time"), "the MCP target's row: {row:?}");

    // Live: requests made now show as a rate on the next refresh.
    for _ in 0..20 {
        request(addr, "GET", "/plain/live", &[], "").await;
    }
    let moving =
        "Number(document.querySelector('#routes tr[data-route=\"default/plain/0\"] td:nth-child(3)').innerText) > 0";
    assert!(browser.wait_for(&page, moving, std::time::Duration::from_secs(10)).await, "the rate never moved");

    let png = browser.screenshot(&page).await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("observability");
    std::fs::create_dir_all(&dir).expect("output folder");
    let shot = dir.join("dashboard.png");
    std::fs::write(&shot, &png).expect("screenshot written");
    println!("dashboard screenshot: {}", shot.display());
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// An OTLP/HTTP receiver on loopback: every `ExportTraceServiceRequest` posted to it, decoded
/// with the `opentelemetry-proto` types (independent of the exporter that encoded them).
struct OtlpReceiver {
    addr: SocketAddr,
    spans: std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
}

impl OtlpReceiver {
    async fn start() -> OtlpReceiver {
        use http_body_util::BodyExt as _;
        use prost::Message as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let kept = kept.clone();
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let kept = kept.clone();
                    async move {
                        assert_eq!(req.uri().path(), "/v1/traces");
                        let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                        assert_eq!(ct, "application/x-protobuf", "OTLP/HTTP with protobuf");
                        let body = req.into_body().collect().await.expect("body").to_bytes();
                        let export =
                            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body)
                                .expect("an ExportTraceServiceRequest");
                        let mut spans = kept.lock().expect("lock");
                        for rs in export.resource_spans {
                            for ss in rs.scope_spans {
                                spans.extend(ss.spans);
                            }
                        }
                        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
                );
            }
        });
        OtlpReceiver { addr, spans }
    }

    fn spans(&self) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        self.spans.lock().expect("lock").clone()
    }
}

fn attribute(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        V::StringValue(s) => Some(s.clone()),
        V::IntValue(i) => Some(i.to_string()),
        V::BoolValue(b) => Some(b.to_string()),
        V::DoubleValue(d) => Some(d.to_string()),
        V::ArrayValue(a) => Some(
            a.values
                .iter()
                .filter_map(|v| match v.value.as_ref()? {
                    V::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Traces: an AI request and an MCP call sent with the client's `traceparent` come to an OTLP
/// receiver as spans of the client's trace, the request spans parented under the client's span,
/// with the GenAI and MCP attributes; the provider gets the gateway's LLM span as its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_under_the_clients_trace() {
    let receiver = OtlpReceiver::start().await;
    // Policies on the AI and MCP routes, so that their admission and their limits asked once
    // the model (or the tool) is known are traced too.
    let limits = support::yaml::route_policy(
        "limits",
        "  rateLimits:\n    - {name: per-model, requests: 1000, per: minute, key: [model]}\n",
    ) + &support::yaml::policy_on_route(
        "mcp",
        "tool-limits",
        "  rateLimits:\n    - {name: per-tool, requests: 1000, per: minute, key: [tool]}\n",
    );
    let (fake, _echo, rt, addr, _admin) = gateway_for_the_mix(&(limits + &traced_mcp_route())).await;
    let endpoint = format!("http://{}/v1/traces", receiver.addr);
    rt.trace_to(&endpoint, 1.0).expect("an exporter");

    let (trace_id, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) =
        request(addr, "POST", "/v1/chat/completions", &[("traceparent", &traceparent)], &body.to_string()).await;
    assert_eq!(status, 200);
    // A proxied request: the echo server tells which traceparent it received.
    let (status, _, echoed) = request(addr, "GET", "/plain/traced", &[("traceparent", &traceparent)], "").await;
    assert_eq!(status, 200, "{echoed}");
    let echoed: Value = serde_json::from_str(&echoed).expect("the echo's JSON");
    let (_, head, _) = mcp(addr, None, mcp_init()).await;
    let session = support::gateway::header(&head, "mcp-session-id").expect("a session id").to_string();
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "time_get_current_time", "arguments": {"timezone": "UTC"}}});
    let headers = [("mcp-session-id", session.as_str()), ("traceparent", traceparent.as_str())];
    let (status, _, body) = request(addr, "POST", "/mcp", &headers, &call.to_string()).await;
    assert_eq!(status, 200, "{body}");
    // A target built on the official MCP SDK tells what trace context its call carried.
    let (_, head, _) = request(addr, "POST", "/traced", &[], &mcp_init().to_string()).await;
    let traced = support::gateway::header(&head, "mcp-session-id").expect("a session id").to_string();
    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "traced_trace_context", "arguments": {}}});
    let headers = [("mcp-session-id", traced.as_str()), ("traceparent", traceparent.as_str())];
    let (status, _, body) = request(addr, "POST", "/traced", &headers, &call.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}"));
    let seen: Value = serde_json::from_str(text).expect("the tool's JSON");

    // Spans end when the answers' bodies have gone; then the batch is flushed.
    let mut spans = Vec::new();
    for _ in 0..50 {
        rt.flush_traces();
        spans = receiver.spans();
        if spans.iter().any(|s| s.name == "tools/call time_get_current_time")
            && spans.iter().any(|s| s.name == "tools/call trace_context")
            && spans.iter().any(|s| s.name.starts_with("chat "))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let find =
        |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}: {names:?}"));
    let ours: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace_id).collect();
    assert!(ours.len() >= 5, "the client's trace holds the gateway's spans: {names:?}");

    let llm_request = find("POST default/llm/0");
    assert_eq!(hex(&llm_request.parent_span_id), parent, "the request span is the client's span's child");
    assert_eq!(attribute(llm_request, "http.response.status_code").as_deref(), Some("200"));
    let chat = find(&format!("chat {MODEL}"));
    assert_eq!(chat.parent_span_id, llm_request.span_id);
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", MODEL),
        ("gen_ai.response.model", MODEL),
        ("gen_ai.usage.input_tokens", "11"),
        ("gen_ai.usage.output_tokens", "7"),
        ("gen_ai.response.finish_reasons", "stop"),
    ] {
        assert_eq!(attribute(chat, key).as_deref(), Some(value), "{key} on {chat:?}");
    }
    // The model's rate limit, decided once the model was known: an event on the request span.
    let decisions = |span: &opentelemetry_proto::tonic::trace::v1::Span| -> Vec<Vec<(String, String)>> {
        let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| format!("{v:?}");
        span.events
            .iter()
            .filter(|e| e.name == "policy decision")
            .map(|e| e.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect())
            .collect()
    };
    let decided = decisions(llm_request);
    assert_eq!(decided.len(), 1, "{decided:?}");
    for (key, value) in
        [("sluice.policy.stage", "model"), ("sluice.policy.check", "rate_limit"), ("sluice.policy.result", "allowed")]
    {
        assert!(decided[0].iter().any(|(k, v)| k == key && v.contains(&format!("{value:?}"))), "{key} in {decided:?}");
    }
    let admission = find("policy admission");
    assert_eq!(admission.parent_span_id, llm_request.span_id);
    // The proxied request's attempt at the backend: a client span, the backend's parent.
    let plain = spans
        .iter()
        .find(|s| s.name == "GET default/plain/0" && hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| panic!("the plain request's span: {names:?}"));
    let attempt = spans.iter().find(|s| s.parent_span_id == plain.span_id).expect("the attempt's span");
    assert_eq!(
        (attempt.name.as_str(), attempt.kind),
        ("GET", opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client as i32)
    );
    assert_eq!(attribute(attempt, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attribute(attempt, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(echoed["headers"]["Traceparent"][0], format!("00-{trace_id}-{}-01", hex(&attempt.span_id)), "{echoed}");
    assert_eq!(attribute(admission, "sluice.policy.result").as_deref(), Some("allowed"));
    assert_eq!(attribute(admission, "sluice.auth.method").as_deref(), Some("anonymous"));

    let mcp_request = spans
        .iter()
        .find(|s| s.name == "POST default/mcp/0" && hex(&s.trace_id) == trace_id)
        .expect("the MCP request's span");
    let tool = find("tools/call time_get_current_time");
    assert_eq!(tool.parent_span_id, mcp_request.span_id);
    assert_eq!(attribute(tool, "mcp.method.name").as_deref(), Some("tools/call"));
    assert_eq!(attribute(tool, "gen_ai.tool.name").as_deref(), Some("time_get_current_time"));
    assert_eq!(attribute(tool, "sluice.mcp.target").as_deref(), Some("default/tools/time"));
    // The tool's rate limit: an event on the message's span; and counted.
    let decided = decisions(tool);
    assert!(decided.len() == 1 && decided[0].iter().any(|(_, v)| v.contains("\"tool_call\"")), "{decided:?}");
    let m = parse_openmetrics(&rt.render_metrics());
    let stage = |stage, check| [("stage", stage), ("check", check), ("result", "allowed")];
    assert_eq!(sum(&m, "sluice_policy_stage_decisions_total", &stage("model", "rate_limit")), 1.0);
    assert_eq!(sum(&m, "sluice_policy_stage_decisions_total", &stage("tool_call", "rate_limit")), 1.0);
    // The call to the target is a client span of its own, under the message's.
    let upstream = find("tools/call get_current_time");
    assert_eq!(upstream.parent_span_id, tool.span_id);
    assert_eq!(upstream.kind, opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client as i32);
    assert_eq!(attribute(upstream, "gen_ai.tool.name").as_deref(), Some("get_current_time"));
    assert_eq!(attribute(upstream, "sluice.mcp.target").as_deref(), Some("default/tools/time"));
    // The initialize that opened the session is a message span too.
    assert!(spans.iter().any(|s| s.name == "initialize"), "{names:?}");
    // The target received the gateway's client span as its parent (`params._meta`, SEP-414).
    let message = find("tools/call traced_trace_context");
    let client = find("tools/call trace_context");
    assert_eq!(client.parent_span_id, message.span_id);
    assert_eq!(hex(&client.trace_id), trace_id);
    assert_eq!(seen["traceparent"], format!("00-{trace_id}-{}-01", hex(&client.span_id)), "{seen}");

    // The provider saw the gateway's LLM span as its parent, in the client's trace.
    let sent =
        fake.requests().into_iter().find(|r| r.path.ends_with("/chat/completions")).expect("the provider's request");
    let tp =
        sent.headers.iter().find(|(k, _)| k == "traceparent").map(|(_, v)| v.clone()).expect("traceparent upstream");
    assert_eq!(tp, format!("00-{trace_id}-{}-01", hex(&chat.span_id)));
}
