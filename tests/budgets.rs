//! TrafficPolicy budgets end to end, with `sluice run` as users run it: spend per team in USD
//! from the catalog's prices for what the (fake) provider reported, a soft threshold's warning
//! header, a hard limit's 403 in the client's format, the spend on the admin plane's
//! `/budgets`, and all of it surviving a restart (the embedded state file).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::fake_llm::openai::{FakeOpenAi, Reply, Script, Usage};
use support::process;

const MODEL: &str = "gpt-6-luna";

fn config(port: u16, fake: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"])
        + &support::yaml::openai_backend("gpt", fake)
        + r#"---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: default}
stringData:
  ml: '{"key": "sk-ml", "attributes": {"team": "ml"}}'
  web: '{"key": "sk-web", "attributes": {"team": "web"}}'
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: spend, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}]
  authentication: {apiKeys: {secretRefs: [{name: keys}]}}
  budgets:
    - {name: team-monthly, usd: 0.05, softUsd: 0.03, per: month, key: ["attribute:team"]}
"#
}

fn chat(addr: SocketAddr, key: &str) -> (u16, String) {
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let auth = format!("Bearer {key}");
    let len = body.len().to_string();
    let headers =
        [("authorization", auth.as_str()), ("content-type", "application/json"), ("content-length", len.as_str())];
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let head: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    s.write_all(
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{head}Connection: close\r\n\r\n{body}").as_bytes(),
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_budgets_warn_refuse_and_survive_a_restart() {
    // Each answer: 10,000 input and 5,000 output tokens.
    let fake =
        FakeOpenAi::start(Script::reply(Reply::text("ok").usage(Usage::new(10_000, 5_000))).api_key("sk-upstream"))
            .await;
    let price = sluice::catalog::catalog().provider("openai").and_then(|p| p.pricing(MODEL)).expect("catalog price");
    let per_request = (10_000.0 * price.input_per_m_tok + 5_000.0 * price.output_per_m_tok) / 1e6;
    assert!(per_request > 0.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.redb");
    let port = process::free_port();
    let config_file = dir.path().join("config.yaml");
    std::fs::write(&config_file, config(port, fake.port())).expect("write config");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let state_arg = state.display().to_string();

    let fake_requests = tokio::task::spawn_blocking(move || {
        let gw = process::Gateway::start_with(&config_file, &["--state-file", &state_arg]);
        // Under the limit (0.05) until spend reaches it; past 0.03, a warning.
        let mut answered = 0;
        let mut warned = false;
        loop {
            let (code, text) = chat(addr, "sk-ml");
            if code == 403 {
                assert!(text.contains(r#"budget \"team-monthly\" is spent"#), "{text}");
                assert!(text.contains("permission_error"), "OpenAI's error shape: {text}");
                break;
            }
            assert_eq!(code, 200, "{text}");
            answered += 1;
            warned |= text.to_ascii_lowercase().contains("x-sluice-budget-warning: team-monthly");
            assert!(answered < 1000, "the budget never ran out");
        }
        assert!(warned, "the soft threshold warned before the limit");
        let expected = (0.05 / per_request).ceil() as u64;
        assert_eq!(answered, expected, "requests are admitted until spend reaches the limit");
        let (code, _) = chat(addr, "sk-web");
        assert_eq!(code, 200, "another team's budget");
        let (_, budgets) = gw.admin_get("/budgets");
        let body = budgets.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {budgets}"));
        let ml = v["budgets"].as_array().expect("budgets").iter().find(|b| b["key"] == "ml").expect("ml's").clone();
        let spent = ml["spentUsd"].as_f64().expect("spend");
        assert!((spent - answered as f64 * per_request).abs() < 1e-9, "spend = usage × catalog prices: {spent}");
        // Let the writer put the last addition on disk, then stop the gateway.
        std::thread::sleep(Duration::from_millis(300));
        drop(gw);
        // A new gateway process on the same state file: the spend is still there.
        let gw = process::Gateway::start_with(
            &dir.path().join("config.yaml"),
            &["--state-file", &state.display().to_string()],
        );
        let (code, text) = chat(addr, "sk-ml");
        assert_eq!(code, 403, "still spent after a restart: {text}");
        let (_, budgets) = gw.admin_get("/budgets");
        assert!(budgets.contains(&format!("{spent}")), "{budgets}");
        answered + 1
    })
    .await
    .expect("join");
    assert_eq!(fake.requests().len() as u64, fake_requests, "refused requests never reached the provider");
}
