//! TrafficPolicy rate limits end to end, on an in-process gateway:
//! - request limits: OpenAI's rate-limit headers, then a 429 with `Retry-After` in the client's
//!   own format (the official OpenAI SDK raises `RateLimitError`);
//! - token limits admit by reservation: 20 concurrent streams from the mock provider against a
//!   token limit; what the admitted streams used stays within the limit, and the tokens they
//!   reserved but did not use are given back;
//! - MCP `tools/call` limits by tool, answered as a JSON-RPC error.

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};

use support::gateway::{header, start as gateway};

/// A raw HTTP/1.1 POST of JSON.
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Value) -> (u16, String, String) {
    support::gateway::request(addr, "POST", path, headers, &body.to_string()).await
}

fn mock_route(limits: &str, mock: &str) -> String {
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend(mock)
        + &support::yaml::route_policy("limits", &format!("  rateLimits:\n{limits}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limits_answer_with_headers_then_429_in_the_clients_format() {
    let config = mock_route("    - {name: per-client, requests: 2, per: minute, key: [clientIP]}\n", "{}");
    let (_rt, addr) = gateway(&config).await;
    let chat = json!({"model": "mock-1", "messages": [{"role": "user", "content": "hi"}]});
    let (status, head, _) = post(addr, "/v1/chat/completions", &[], chat.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "x-ratelimit-limit-requests"), Some("2"), "{head}");
    assert_eq!(header(&head, "x-ratelimit-remaining-requests"), Some("1"), "{head}");
    assert!(header(&head, "x-ratelimit-reset-requests").is_some(), "{head}");
    let (status, _, _) = post(addr, "/v1/chat/completions", &[], chat.clone()).await;
    assert_eq!(status, 200);
    let (status, head, body) = post(addr, "/v1/chat/completions", &[], chat).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&head, "retry-after"), Some("30"), "one request every 30 s: {head}");
    assert_eq!(header(&head, "x-ratelimit-remaining-requests"), Some("0"), "{head}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"]["type"], "rate_limit_error", "OpenAI's shape: {body}");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let anthropic = json!({"model": "mock-1", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = post(addr, "/v1/messages", &[], anthropic).await;
    assert_eq!(status, 429);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("rate_limit_error")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_sees_a_rate_limit_error() {
    let python = std::process::Command::new("python3").args(["-c", "import openai"]).status();
    assert!(python.is_ok_and(|s| s.success()), "install the OpenAI SDK: pip install -r tests/python/requirements.txt");
    let config = mock_route("    - {name: one, requests: 1, per: hour}\n", "{}");
    let (_rt, addr) = gateway(&config).await;
    let run = move || {
        let out = std::process::Command::new("python3")
            .args([&format!("{}/tests/python/openai_sdk.py", env!("CARGO_MANIFEST_DIR")), "chat"])
            .env("SLUICE_BASE_URL", format!("http://{addr}"))
            .env("SLUICE_MODEL", "mock-1")
            .output()
            .expect("python3");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
    };
    let first = tokio::task::spawn_blocking(run).await.expect("join");
    assert!(first.get("error").is_none(), "{first}");
    let second = tokio::task::spawn_blocking(run).await.expect("join");
    assert_eq!(second["error"]["class"], "RateLimitError", "{second}");
    assert_eq!(second["error"]["status"], 429, "{second}");
}

/// Tokens used by one streamed answer of the mock, as its usage says.
fn streamed_usage(sse: &str) -> Option<u64> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|v| v["usage"]["total_tokens"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_overshoot_a_token_limit_by_at_most_what_they_reserved() {
    const LIMIT: u64 = 1000;
    const MAX_TOKENS: u64 = 100;
    // Each answer: 40 words in 8 chunks, 40 ms apart, so that the streams overlap.
    let content = "one two three four five six seven eight nine ten ".repeat(4);
    let mock = format!("{{content: \"{}\", chunks: 8, interval: 40ms}}", content.trim());
    let limits = format!("    - {{name: tokens, tokens: {LIMIT}, per: minute}}\n");
    let (_rt, addr) = gateway(&mock_route(&limits, &mock)).await;
    let body = json!({
        "model": "mock-1", "stream": true, "stream_options": {"include_usage": true}, "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": "tell me a story"}]
    });
    let tasks: Vec<_> = (0..20).map(|_| tokio::spawn(post(addr, "/v1/chat/completions", &[], body.clone()))).collect();
    let mut admitted = 0u64;
    let mut used = 0u64;
    let mut refused = 0;
    for t in tasks {
        let (status, _, text) = t.await.expect("join");
        match status {
            200 => {
                admitted += 1;
                used += streamed_usage(&text).unwrap_or_else(|| panic!("no usage in {text}"));
            }
            429 => refused += 1,
            other => panic!("status {other}: {text}"),
        }
    }
    // Each stream reserves its prompt's estimate plus max_tokens before it starts.
    eprintln!(
        "20 concurrent streams: {admitted} admitted, {refused} refused; used {used} tokens of a {LIMIT}-token limit"
    );
    assert!(admitted >= 1 && refused >= 1, "admitted {admitted}, refused {refused}");
    assert!(admitted * MAX_TOKENS <= LIMIT, "no more admitted than their reservations allow: {admitted}");
    let overshoot = used.saturating_sub(LIMIT);
    assert_eq!(overshoot, 0, "used {used} of {LIMIT}");
    // What was reserved and not used has been given back: another request fits at once.
    let (status, head, text) = post(addr, "/v1/chat/completions", &[], body).await;
    assert_eq!(status, 200, "{text}");
    let remaining: u64 = header(&head, "x-ratelimit-remaining-tokens").and_then(|v| v.parse().ok()).expect("header");
    assert!(
        remaining + used + MAX_TOKENS + 20 >= LIMIT,
        "unused reservations were given back: {remaining} left after {used}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tool_calls_are_limited_per_tool() {
    let python = std::process::Command::new("python3").args(["-c", "import mcp_server_time"]).status();
    assert!(python.is_ok_and(|s| s.success()), "install mcp-server-time: pip install -r tests/mcp/requirements.txt");
    let config = support::yaml::gateway_route(80, "mcp", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + &support::yaml::time_mcp_backend()
        + r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: calls, namespace: default}
spec:
  targetRefs: [{group: sluice.dev, kind: MCPBackend, name: tools}]
  rateLimits:
    - {name: per-tool, requests: 2, per: hour, key: [tool]}
"#;
    let (_rt, addr) = gateway(&config).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, head, body) = post(addr, "/mcp", &[], init).await;
    assert_eq!(status, 200, "{body}");
    let session = header(&head, "mcp-session-id").expect("a session").to_string();
    let h = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", "2025-06-18")];
    post(addr, "/mcp", &h, json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "time_get_current_time", "arguments": {"timezone": "UTC"}}})
    };
    for id in 2..4 {
        let (status, _, body) = post(addr, "/mcp", &h, call(id)).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("\"error\""), "call {id}: {body}");
    }
    let (_, _, body) = post(addr, "/mcp", &h, call(4)).await;
    let line = body.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or(&body);
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"));
    assert_eq!(v["error"]["code"], -32029, "{body}");
    assert!(v["error"]["data"]["retryAfterSeconds"].as_u64().is_some_and(|s| s > 0), "{body}");
}
