//! Bad input on the AI path: answered in the client's own error format with the right status,
//! and nothing reaches the provider. The provider is a fake (support::fake_llm) that records
//! every request it receives.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;

use serde_json::Value;
use sluice::runtime::{BindMode, Runtime};
use support::fake_llm::openai::{FakeOpenAi, Reply, Script};

fn config(port: u16) -> String {
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: llm}"])
        + &format!(
            r#"---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: llm, namespace: default}}
spec:
  models: [{{name: "gpt-*"}}]
  provider: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", auth: {{secretRef: {{name: key}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: key, namespace: default}}
stringData: {{apiKey: sk-upstream}}
"#
        )
}

/// A raw HTTP/1.1 POST; returns status and body.
fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: llm\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    // A gateway may answer (413) before reading all of a huge body; that is fine.
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_never_reaches_the_provider() {
    let fake = FakeOpenAi::start(Script::reply(Reply::text("never")).api_key("sk-upstream")).await;
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let loaded = sluice::config::parse_text("ai.yaml", &config(fake.port()));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("bound");

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/v1/chat/completions", b"{not json".to_vec(), 400, "not valid JSON"),
        ("/v1/chat/completions", br#"{"model": 42, "messages": []}"#.to_vec(), 400, "model"),
        ("/v1/chat/completions", br#"{"model": "gpt-4o", "messages": "hi"}"#.to_vec(), 400, "messages"),
        ("/v1/chat/completions", br#"{"messages": [{"role": "user", "content": "hi"}]}"#.to_vec(), 400, "model"),
        ("/v1/chat/completions", br#"{"model": "llama-3", "messages": []}"#.to_vec(), 404, "llama-3"),
        ("/v1/chat/completions", vec![b' '; 9 * 1024 * 1024], 413, "larger than"),
        // serde reads an array as a struct field by field; once, this one panicked the task.
        (
            "/v1/chat/completions",
            br#"{"model": "gpt-4o", "stream": true, "stream_options": [true], "messages": [{"role": "user", "content": "hi"}]}"#
                .to_vec(),
            400,
            "stream_options",
        ),
        ("/v1/messages", b"[1, 2]".to_vec(), 400, "JSON object"),
        ("/v1/messages", br#"{"model": "gpt-4o", "messages": []}"#.to_vec(), 400, "max_tokens"),
        ("/v1/messages", br#"{"model": "gpt-4o", "max_tokens": "ten", "messages": []}"#.to_vec(), 400, "max_tokens"),
    ];
    for (path, body, status, needle) in cases {
        let (got, text) = tokio::task::spawn_blocking(move || post(addr, path, &body)).await.expect("join");
        assert_eq!(got, status, "{path}: {text}");
        let v = json(&text);
        let message = if path.ends_with("/messages") {
            // Anthropic's format.
            assert_eq!(v["type"], "error", "{text}");
            v["error"]["message"].as_str().unwrap_or_default().to_string()
        } else {
            // OpenAI's format.
            assert!(v["error"]["type"].is_string(), "{text}");
            v["error"]["message"].as_str().unwrap_or_default().to_string()
        };
        assert!(message.contains(needle), "{path}: expected {needle:?} in {message:?}");
    }
    assert!(fake.requests().is_empty(), "bad input reached the provider: {:?}", fake.requests().len());

    // The gateway still serves good requests afterwards.
    let (got, text) = tokio::task::spawn_blocking(move || {
        post(addr, "/v1/chat/completions", br#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}"#)
    })
    .await
    .expect("join");
    assert_eq!(got, 200, "{text}");
    assert_eq!(fake.requests().len(), 1);
}
