//! What real agents send, through a gateway to fake providers (support::fake_llm; the
//! Anthropic fake enforces the thinking rules Anthropic documents): Claude Code's system
//! messages inside `messages` and its `?beta=true`, same-format and across formats; and a
//! thinking + tool loop from an OpenAI-format client to an Anthropic provider, with the
//! signature sent back in `thinking_blocks`, or without it.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;

use serde_json::{Value, json};
use sluice::runtime::{BindMode, Runtime};
use support::fake_llm::anthropic::{self, FakeAnthropic};
use support::fake_llm::openai::{self, FakeOpenAi};

fn config(anthropic_port: u16, openai_port: u16) -> String {
    support::yaml::gateway_route(
        80,
        "llm",
        &["{group: sluice.dev, kind: AIBackend, name: claude}", "{group: sluice.dev, kind: AIBackend, name: gpt}"],
    ) + &format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: claude, namespace: default}}
spec:
  models: [{{name: "claude-*"}}]
  provider: {{type: anthropic, baseURL: "http://127.0.0.1:{anthropic_port}/v1", auth: {{secretRef: {{name: keys, key: anthropic}}}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: gpt, namespace: default}}
spec:
  models: [{{name: "gpt-*"}}]
  provider: {{type: openai, baseURL: "http://127.0.0.1:{openai_port}/v1", auth: {{secretRef: {{name: keys, key: openai}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: keys, namespace: default}}
stringData: {{anthropic: sk-ant-upstream, openai: sk-upstream}}
"#
    )
}

/// A raw HTTP/1.1 POST with a JSON body; returns status and body.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: llm\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body.as_bytes()).expect("write body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let text = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

struct Env {
    anthropic: FakeAnthropic,
    openai: FakeOpenAi,
    addr: SocketAddr,
    _rt: std::sync::Arc<Runtime>,
}

async fn start(a: anthropic::Reply, o: openai::Reply) -> Env {
    let anthropic = FakeAnthropic::start(anthropic::Script::reply(a).api_key("sk-ant-upstream")).await;
    let openai = FakeOpenAi::start(openai::Script::reply(o).api_key("sk-upstream")).await;
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let loaded = sluice::config::parse_text("agents.yaml", &config(anthropic.port(), openai.port()));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("bound");
    Env { anthropic, openai, addr, _rt: rt }
}

async fn send(addr: SocketAddr, path: &'static str, headers: &'static [(&str, &str)], body: Value) -> (u16, Value) {
    tokio::task::spawn_blocking(move || post(addr, path, headers, &body)).await.expect("join")
}

/// Claude Code's shape: a system reminder between turns.
fn claude_code(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi there"},
            {"role": "system", "content": "<system-reminder>Today is Friday.</system-reminder>"},
            {"role": "user", "content": "and again"}
        ]
    })
}

const CLAUDE_CODE_HEADERS: &[(&str, &str)] =
    &[("x-api-key", "client"), ("anthropic-version", "2023-06-01"), ("anthropic-beta", "claude-code-20250219")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_requests_reach_anthropic_untouched_and_other_providers_translated() {
    let env = start(anthropic::Reply::text("hello from claude"), openai::Reply::text("hello from gpt")).await;

    let (status, body) =
        send(env.addr, "/v1/messages?beta=true", CLAUDE_CODE_HEADERS, claude_code("claude-sonnet-4-5")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], "hello from claude");
    let got = env.anthropic.requests().pop().expect("the provider was asked");
    assert_eq!(got.path, "/v1/messages?beta=true", "same format: the query goes with the request");
    assert_eq!(got.body["messages"][1]["role"], "system", "same format: untouched");
    assert_eq!(got.header("anthropic-beta"), Some("claude-code-20250219"));
    assert_eq!(got.header("x-api-key"), Some("sk-ant-upstream"));

    let (status, body) = send(env.addr, "/v1/messages?beta=true", CLAUDE_CODE_HEADERS, claude_code("gpt-4o")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], "hello from gpt", "answered in Anthropic's format: {body}");
    let got = env.openai.requests().pop().expect("the provider was asked");
    assert_eq!(got.path, "/v1/chat/completions", "across formats: no beta query");
    let roles: Vec<&str> =
        got.body["messages"].as_array().expect("messages").iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "system", "user"], "the reminder in place: {}", got.body);
}

/// An OpenAI-format client's second turn of a thinking + tool loop.
fn tool_loop(thinking_blocks: Option<Value>) -> Value {
    let mut assistant = json!({
        "role": "assistant", "content": null, "reasoning_content": "I should look it up.",
        "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
    });
    if let Some(b) = thinking_blocks {
        assistant["thinking_blocks"] = b;
    }
    json!({
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "low",
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            assistant,
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    })
}

const OPENAI_HEADERS: &[(&str, &str)] = &[("authorization", "Bearer client")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_tool_loop_from_an_openai_client_satisfies_anthropic() {
    let first = anthropic::Reply::blocks(vec![
        anthropic::Block::thinking("I should look it up.", "sig-issued"),
        anthropic::Block::tool_use("toolu_1", "weather", json!({"city": "Paris"})),
    ])
    .stop("tool_use");
    let env = start(first, openai::Reply::text("unused")).await;

    // Turn 1: the signature comes back in thinking_blocks.
    let (status, body) = send(
        env.addr,
        "/v1/chat/completions",
        OPENAI_HEADERS,
        json!({"model": "claude-sonnet-4-5", "reasoning_effort": "low", "max_tokens": 4096,
               "messages": [{"role": "user", "content": "Weather in Paris?"}],
               "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["thinking_blocks"][0]["signature"], "sig-issued", "{body}");

    // Turn 2, sent back whole: thinking stays on and the fake (which refuses bad signatures)
    // accepts it.
    let (status, body) =
        send(env.addr, "/v1/chat/completions", OPENAI_HEADERS, tool_loop(Some(message["thinking_blocks"].clone())))
            .await;
    assert_eq!(status, 200, "{body}");
    let sent = env.anthropic.requests().pop().expect("asked").body;
    assert_eq!(sent["thinking"]["type"], "enabled", "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["signature"], "sig-issued");

    // Turn 2, sent back without the blocks: Sluice remembers what it forwarded and signs it again.
    let (status, body) = send(env.addr, "/v1/chat/completions", OPENAI_HEADERS, tool_loop(None)).await;
    assert_eq!(status, 200, "{body}");
    let sent = env.anthropic.requests().pop().expect("asked").body;
    assert_eq!(sent["messages"][1]["content"][0]["signature"], "sig-issued", "restored: {sent}");

    // Thinking Sluice never saw: thinking is turned off rather than sent unsigned.
    let mut unknown = tool_loop(None);
    unknown["messages"][1]["reasoning_content"] = json!("Some thinking Sluice never forwarded.");
    let (status, body) = send(env.addr, "/v1/chat/completions", OPENAI_HEADERS, unknown).await;
    assert_eq!(status, 200, "{body}");
    let sent = env.anthropic.requests().pop().expect("asked").body;
    assert!(sent.get("thinking").is_none(), "{sent}");
    assert!(!sent.to_string().contains(r#""signature":"""#), "{sent}");
}
