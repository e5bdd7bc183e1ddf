//! Stored Responses end to end: a response stored by `sluice run` survives a restart (the
//! embedded state file), `previous_response_id` continues it with the whole history on a
//! provider of another format (the fake Anthropic), input items page as OpenAI's do, a
//! deleted response is gone, a streamed one is stored too, and responses are seen only by the
//! identity that created them; two replicas sharing a real `redis-server` continue each other's
//! responses. The official OpenAI SDK runs the same flow in ai_sdk/responses.rs.

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};
use support::fake_llm::anthropic::{FakeAnthropic, Reply, Script};
use support::gateway::start as gateway;
use support::process;

const UPSTREAM_KEY: &str = "sk-ant-upstream-stored";

async fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let (status, _, body) = support::gateway::request_whole(addr, method, path, headers, body).await;
    let json = serde_json::from_str(&body).ok();
    (status, json.unwrap_or(Value::String(body)))
}

fn config(port: u16, anthropic: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: claude}"])
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: ant-key, namespace: default}}
stringData: {{apiKey: {UPSTREAM_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: claude, namespace: default}}
spec:
  provider: {{type: anthropic, baseURL: "http://127.0.0.1:{anthropic}/v1", auth: {{secretRef: {{name: ant-key}}}}}}
"#
        )
}

/// The text of the `message` items of a response's output.
fn output_text(response: &Value) -> String {
    let items = response["output"].as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().into_iter().flatten())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_response_survives_a_restart_and_continues_on_another_provider() {
    let fake = FakeAnthropic::start(Script::reply(Reply::text("Nice to meet you, Ada.")).api_key(UPSTREAM_KEY)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let config_file = dir.path().join("config.yaml");
    std::fs::write(&config_file, config(port, fake.port())).expect("write config");
    let state = dir.path().join("state.redb").display().to_string();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    let gw = tokio::task::spawn_blocking({
        let (c, s) = (config_file.clone(), state.clone());
        move || process::Gateway::start_with(&c, &["--state-file", &s])
    })
    .await
    .expect("start");
    let first = json!({"model": "claude-sonnet-4-6", "input": "My name is Ada.", "instructions": "Be brief."});
    let (status, r1) = call(addr, "POST", "/v1/responses", &[], &first.to_string()).await;
    assert_eq!(status, 200, "{r1}");
    let id = r1["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("resp_") && id.len() == 37, "a fresh id of 32 hex digits: {id}");
    assert_eq!(r1["store"], true, "stored by default, as OpenAI does: {r1}");
    assert_eq!(output_text(&r1), "Nice to meet you, Ada.");
    drop(gw);

    // A new process on the same state file.
    let _gw =
        tokio::task::spawn_blocking(move || process::Gateway::start_with(&config_file, &["--state-file", &state]))
            .await
            .expect("restart");
    let (status, again) = call(addr, "GET", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, r1, "the response as it was answered");

    let next = json!({"model": "claude-sonnet-4-6", "input": "What is my name?", "previous_response_id": id});
    let (status, r2) = call(addr, "POST", "/v1/responses", &[], &next.to_string()).await;
    assert_eq!(status, 200, "{r2}");
    assert_eq!(r2["previous_response_id"], id.as_str());
    let sent = fake.requests().last().expect("a request").body.clone();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Nice to meet you, Ada."}]},
            {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}
        ]),
        "the whole history, in Anthropic's format"
    );
    assert!(sent.get("system").is_none(), "instructions are not carried over, as OpenAI does: {sent}");

    let id2 = r2["id"].as_str().expect("id");
    let (status, items) = call(addr, "GET", &format!("/v1/responses/{id2}/input_items"), &[], "").await;
    assert_eq!(status, 200, "{items}");
    let data = items["data"].as_array().expect("data");
    assert_eq!(data.len(), 3, "{items}");
    assert_eq!(data[0]["content"][0]["text"], "What is my name?", "newest first");
    assert!(data.iter().all(|i| i["id"].is_string()), "every item has an id: {items}");
    let (_, page) = call(addr, "GET", &format!("/v1/responses/{id2}/input_items?order=asc&limit=1"), &[], "").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["content"][0]["text"], "My name is Ada.");

    let (status, deleted) = call(addr, "DELETE", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)), "{deleted}");
    let (status, gone) = call(addr, "GET", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(gone["error"]["type"], "invalid_request_error", "OpenAI's shape: {gone}");
    let (status, _) = call(addr, "POST", "/v1/responses", &[], &next.to_string()).await;
    assert_eq!(status, 404, "a deleted response cannot be continued");
}

const KEYS: &str = r#"---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: default}
stringData: {ann: sk-ann, bob: sk-bob}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_seen_only_by_their_owner_and_streams_are_stored_too() {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("{content: Streamed and kept.}")
        + KEYS
        + &support::yaml::route_policy("keys", "  authentication: {apiKeys: {secretRefs: [{name: keys}]}}\n");
    let (_rt, addr) = gateway(&config).await;
    let ann = [("authorization", "Bearer sk-ann")];
    let bob = [("authorization", "Bearer sk-bob")];

    let body = json!({"model": "mock-1", "input": "hello", "stream": true}).to_string();
    let (status, head, sse) = support::gateway::request(addr, "POST", "/v1/responses", &ann, &body).await;
    assert_eq!(status, 200, "{head}");
    let completed = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|e| e["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed: {sse}"));
    let id = completed["response"]["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("resp_") && id.len() == 37, "{id}");
    // The end of a stream is stored in the background: wait for it, boundedly.
    let mut stored = Value::Null;
    for _ in 0..100 {
        let (status, r) = call(addr, "GET", &format!("/v1/responses/{id}"), &ann, "").await;
        if status == 200 {
            stored = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stored["id"], id.as_str(), "the streamed response is stored: {stored}");
    assert_eq!(output_text(&stored), "Streamed and kept.");

    let (status, r) = call(addr, "GET", &format!("/v1/responses/{id}"), &bob, "").await;
    assert_eq!(status, 404, "another identity does not see it: {r}");
    let (status, _) = call(addr, "DELETE", &format!("/v1/responses/{id}"), &bob, "").await;
    assert_eq!(status, 404, "nor delete it");
    let cont = json!({"model": "mock-1", "input": "again", "previous_response_id": id}).to_string();
    let (status, r) = call(addr, "POST", "/v1/responses", &bob, &cont).await;
    assert_eq!(status, 404, "nor continue it: {r}");
    assert_eq!(r["error"]["param"], "previous_response_id");
    let (status, _) = call(addr, "POST", "/v1/responses", &ann, &cont).await;
    assert_eq!(status, 200, "its owner may");

    let unstored = json!({"model": "mock-1", "input": "hello", "store": false}).to_string();
    let (status, r) = call(addr, "POST", "/v1/responses", &ann, &unstored).await;
    assert_eq!((status, r["store"].as_bool()), (200, Some(false)), "{r}");
    let rid = r["id"].as_str().expect("id");
    let (status, _) = call(addr, "GET", &format!("/v1/responses/{rid}"), &ann, "").await;
    assert_eq!(status, 404, "store: false keeps nothing");
    let (status, r) = call(
        addr,
        "POST",
        "/v1/responses",
        &ann,
        &json!({"model": "mock-1", "input": "x", "store": "yes"}).to_string(),
    )
    .await;
    assert_eq!((status, r["error"]["param"].as_str()), (400, Some("store")), "{r}");
}

/// A `redis-server` of Debian's package (`.ci/run` installs it), on a loopback port.
struct Redis(std::process::Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(port: u16) -> Redis {
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server is needed ({e}): apt-get install redis-server (.ci/run does)"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Redis(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_continue_each_others_responses() {
    let fake = FakeAnthropic::start(Script::reply(Reply::text("Noted, Ada.")).api_key(UPSTREAM_KEY)).await;
    let redis_port = process::free_port();
    let _server = tokio::task::spawn_blocking(move || redis(redis_port)).await.expect("redis");
    let url = format!("redis://127.0.0.1:{redis_port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut replicas = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for i in 0..2 {
        let port = process::free_port();
        let file = dir.path().join(format!("gw{i}.yaml"));
        std::fs::write(&file, config(port, fake.port())).expect("write config");
        let state = dir.path().join(format!("state{i}.redb")).display().to_string();
        let url = url.clone();
        replicas.push(
            tokio::task::spawn_blocking(move || {
                process::Gateway::start_with(&file, &["--redis-url", &url, "--state-file", &state])
            })
            .await
            .expect("start"),
        );
        addrs.push(format!("127.0.0.1:{port}").parse().expect("addr"));
    }
    let first = json!({"model": "claude-sonnet-4-6", "input": "My name is Ada."});
    let (status, r1) = call(addrs[0], "POST", "/v1/responses", &[], &first.to_string()).await;
    assert_eq!(status, 200, "{r1}");
    let id = r1["id"].as_str().expect("id").to_owned();
    let (status, seen) = call(addrs[1], "GET", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!(status, 200, "the other replica reads it from Redis: {seen}");
    assert_eq!(seen, r1);
    let next = json!({"model": "claude-sonnet-4-6", "input": "And my name?", "previous_response_id": id});
    let (status, r2) = call(addrs[1], "POST", "/v1/responses", &[], &next.to_string()).await;
    assert_eq!(status, 200, "{r2}");
    let sent = fake.requests().last().expect("a request").body.clone();
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(3), "the whole history: {sent}");
    // Nothing went to the state files: they are not even created.
    for i in 0..2 {
        assert!(!dir.path().join(format!("state{i}.redb")).exists(), "with Redis, responses live there");
    }
    let (status, _) = call(addrs[0], "DELETE", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!(status, 200);
    let (status, _) = call(addrs[1], "GET", &format!("/v1/responses/{id}"), &[], "").await;
    assert_eq!(status, 404, "deleted on one replica, gone on both");
    drop(replicas);
}
