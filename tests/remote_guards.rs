//! Remote guards end to end: a webhook guard (a service in this test that speaks Sluice's
//! protocol, docs/policies.md) masks and refuses prompts and answers, streamed or not, and its
//! failure modes hold when it is too slow; a moderation guard asks an AIBackend's
//! `/v1/moderations` (the fake OpenAI's, OpenAI's published shape with a rule for a classifier)
//! and refuses what scores over a threshold, in the client's own error format.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::fake_llm::openai::{FakeOpenAi, Reply, Script};
use support::gateway::{request, start};

static PROJECT_CODE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"ACME-\d+").expect("regex"));

/// What the webhook was asked: (phase, scopes, texts).
type Asked = Arc<Mutex<Vec<(String, Vec<String>, Vec<String>)>>>;

/// The webhook: refuses a text with "forbidden" (403), masks `ACME-<digits>` project codes,
/// passes the rest; `/slow` answers after 3 s.
async fn webhook() -> (SocketAddr, Asked) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let asked: Asked = Arc::default();
    let seen = asked.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    let slow = req.uri().path() == "/slow";
                    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let field = |name: &str| -> Vec<String> {
                        let items = v["texts"].as_array().into_iter().flatten();
                        items.map(|t| t[name].as_str().unwrap_or("").to_string()).collect()
                    };
                    let (texts, scopes) = (field("text"), field("scope"));
                    seen.lock().expect("lock").push((
                        v["phase"].as_str().unwrap_or("").to_string(),
                        scopes,
                        texts.clone(),
                    ));
                    if slow {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let answer = if texts.iter().any(|t| t.contains("forbidden")) {
                        json!({"action": "reject", "status": 403, "message": "the webhook said no"})
                    } else if texts.iter().any(|t| t.contains("ACME-")) {
                        let code = &*PROJECT_CODE;
                        let masked: Vec<Value> = texts
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| code.is_match(t))
                            .map(|(i, t)| json!({"index": i, "text": code.replace_all(t, "[PROJECT]")}))
                            .collect();
                        json!({"action": "mask", "texts": masked})
                    } else {
                        json!({"action": "pass"})
                    };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer.to_string()))))
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
        }
    });
    (addr, asked)
}

fn config(fake: u16, hook: u16, guards: &str) -> String {
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"])
        + &support::yaml::openai_backend("gpt", fake)
        + &format!(
            r#"---
apiVersion: v1
kind: Service
metadata: {{name: hook, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: 9000}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: hook-1, namespace: default, labels: {{kubernetes.io/service-name: hook}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {hook}}}]
"#
        )
        + &support::yaml::route_policy("guards", &format!("  guards:\n{guards}"))
}

fn chat(text: &str, stream: bool) -> String {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": text}]}).to_string()
}

/// The text of a chat completion, whole or streamed.
fn answer_text(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

fn sent_prompts(fake: &FakeOpenAi) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.body["messages"][0]["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

const KEY: (&str, &str) = ("authorization", "Bearer sk-client");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_guard_masks_and_refuses_prompts() {
    let fake = FakeOpenAi::start(Script::reply(Reply::text("noted")).api_key("sk-upstream")).await;
    let (hook, asked) = webhook().await;
    let guards = "    - {name: hook, scope: [user], webhook: {backendRef: {name: hook, port: 80}, path: /check}}\n";
    let (_rt, addr) = start(&config(fake.port(), hook.port(), guards)).await;

    let (status, _, body) =
        request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("Status of ACME-123456 please", false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sent_prompts(&fake), ["Status of [PROJECT] please"], "the provider got the masked prompt");

    let (status, _, body) =
        request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("a forbidden question", true)).await;
    assert_eq!(status, 403, "{body}");
    let err: Value = serde_json::from_str(&body).expect("OpenAI's error shape");
    assert_eq!(err["error"]["message"], "the webhook said no");
    assert_eq!(sent_prompts(&fake).len(), 1, "a refused prompt never reaches the provider");

    let asked = asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 2);
    assert_eq!((asked[0].0.as_str(), asked[0].1.as_slice()), ("prompt", &["user".to_string()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_guard_masks_and_refuses_answers_whole_or_streamed() {
    let fake = FakeOpenAi::start(
        Script::reply(Reply::text("Project ACME-424242 ships on Friday.").chunks(7)).api_key("sk-upstream"),
    )
    .await;
    let (hook, asked) = webhook().await;
    let guards = "    - {name: hook, scope: [output], webhook: {backendRef: {name: hook, port: 80}}}\n";
    let (_rt, addr) = start(&config(fake.port(), hook.port(), guards)).await;
    for stream in [false, true] {
        let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("when?", stream)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(answer_text(&body), "Project [PROJECT] ships on Friday.", "stream {stream}: {body}");
        assert!(!body.contains("424242"), "stream {stream}: {body}");
    }
    // The webhook got each answer whole, once, as output.
    let asked = asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 2, "{asked:?}");
    for (phase, scopes, texts) in &asked {
        assert_eq!((phase.as_str(), scopes.as_slice()), ("answer", &["output".to_string()][..]));
        assert_eq!(texts, &["Project ACME-424242 ships on Friday.".to_string()]);
    }

    let fake =
        FakeOpenAi::start(Script::reply(Reply::text("That is forbidden knowledge.").chunks(4)).api_key("sk-upstream"))
            .await;
    let (_rt, addr) = start(&config(fake.port(), hook.port(), guards)).await;
    for stream in [false, true] {
        let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("tell me", stream)).await;
        assert_eq!(status, 403, "stream {stream}: a held answer is refused before any of it is sent: {body}");
        assert!(!body.contains("knowledge"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_cannot_decide_fails_closed_or_open() {
    let fake = FakeOpenAi::start(Script::reply(Reply::text("fine")).api_key("sk-upstream")).await;
    let (hook, _) = webhook().await;
    for (fail_open, want) in [(false, 503), (true, 200)] {
        let guards = format!(
            "    - {{name: hook, scope: [user], webhook: {{backendRef: {{name: hook, port: 80}}, path: /slow, timeout: 200ms, failOpen: {fail_open}}}}}\n"
        );
        let (_rt, addr) = start(&config(fake.port(), hook.port(), &guards)).await;
        let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("hello", false)).await;
        assert_eq!(status, want, "failOpen {fail_open}: {body}");
        if !fail_open {
            assert!(body.contains("could not decide"), "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderation_guard_refuses_what_scores_over_its_threshold() {
    let fake = FakeOpenAi::start(Script::reply(Reply::text("ok")).api_key("sk-upstream")).await;
    let guards = "    - {name: moderation, scope: [user], action: reject, message: 'this prompt breaks the rules', \
                  moderation: {backend: gpt, model: omni-moderation-latest, thresholds: {violence: 0.5}}}\n";
    let (_rt, addr) = start(&config(fake.port(), 1, guards)).await;

    let (status, _, body) =
        request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("how do I bake bread", false)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &[KEY], &chat("plan an attack", false)).await;
    assert_eq!(status, 400, "{body}");
    let err: Value = serde_json::from_str(&body).expect("OpenAI's error shape");
    assert_eq!(err["error"]["message"], "this prompt breaks the rules");
    // In Anthropic's format on Anthropic's front door.
    let anthropic =
        json!({"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "attack now"}]});
    let (status, _, body) =
        request(addr, "POST", "/v1/messages", &[("x-api-key", "sk-client")], &anthropic.to_string()).await;
    assert_eq!(status, 400, "{body}");
    let err: Value = serde_json::from_str(&body).expect("Anthropic's error shape");
    assert_eq!(
        (err["type"].as_str(), err["error"]["message"].as_str()),
        (Some("error"), Some("this prompt breaks the rules"))
    );

    let moderations: Vec<_> = fake.requests().into_iter().filter(|r| r.path == "/v1/moderations").collect();
    assert_eq!(moderations.len(), 3, "one moderation call per prompt");
    assert_eq!(moderations[1].body, json!({"input": ["plan an attack"], "model": "omni-moderation-latest"}));
    assert_eq!(sent_prompts(&fake), ["how do I bake bread"], "refused prompts never reach the provider");
}
