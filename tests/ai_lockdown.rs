//! The AI path locked down: paths other than the AI front doors are refused unless an AIBackend
//! opens them (`spec.passthrough`, by path prefix and method), and then only for models it
//! serves; `OpenAI-Organization` and `OpenAI-Project` reach the provider only with the client's
//! own key (`auth.passthrough`), never beside a key from a Secret; a failover never carries a
//! client's own key to another provider.

mod support;

use support::fake_llm::openai::{Behaviour, FakeOpenAi, Reply, Script};
use support::gateway::{request, start};

const CHAT: &str = r#"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}"#;

fn passthrough_backend(port: u16) -> String {
    format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: gpt, namespace: default}}
spec:
  provider: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", auth: {{passthrough: true}}}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_headers_go_only_with_the_clients_own_key() {
    let org = [("openai-organization", "org-client"), ("openai-project", "proj-client")];
    for (stored, want) in [(true, None), (false, Some("org-client"))] {
        let fake = FakeOpenAi::start(Script::reply(Reply::text("hello")).api_key("sk-upstream")).await;
        let route = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"]);
        let backend =
            if stored { support::yaml::openai_backend("gpt", fake.port()) } else { passthrough_backend(fake.port()) };
        let (_rt, addr) = start(&(route + &backend)).await;
        let headers = [("authorization", "Bearer sk-upstream"), org[0], org[1]];
        let (status, _, body) = request(addr, "POST", "/v1/chat/completions", &headers, CHAT).await;
        assert_eq!(status, 200, "{body}");
        let sent = fake.requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].header("openai-organization"), want, "stored key: {stored}");
        assert_eq!(sent[0].header("openai-project").is_some(), want.is_some(), "stored key: {stored}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_never_carries_a_clients_key_to_another_provider() {
    let first = FakeOpenAi::start(Script::queue([Behaviour::status(503)]).api_key("sk-client")).await;
    let second = FakeOpenAi::start(Script::reply(Reply::text("from the second")).api_key("sk-client")).await;
    let groups = format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: gpt, namespace: default}}
spec:
  groups:
    - providers: [{{name: one, type: openai, baseURL: "http://127.0.0.1:{}/v1", auth: {{passthrough: true}}}}]
    - providers: [{{name: two, type: openai, baseURL: "http://127.0.0.1:{}/v1", auth: {{passthrough: true}}}}]
"#,
        first.port(),
        second.port()
    );
    let route = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"]);
    let (_rt, addr) = start(&(route + &groups)).await;
    let (status, _, body) =
        request(addr, "POST", "/v1/chat/completions", &[("authorization", "Bearer sk-client")], CHAT).await;
    assert_eq!(status, 503, "the first provider's failure is the answer: {body}");
    assert_eq!(first.requests().len(), 1);
    assert!(second.requests().is_empty(), "the client's key went to a second provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_are_refused_unless_a_backend_opens_them() {
    let fake = FakeOpenAi::start(Script::reply(Reply::text("hello")).api_key("sk-upstream")).await;
    let route = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"]);
    let closed = route.clone() + &support::yaml::openai_backend("gpt", fake.port());
    let key = [("authorization", "Bearer sk-client")];
    let (_rt, addr) = start(&closed).await;
    for (method, path) in [("GET", "/v1/files"), ("POST", "/v1/batches"), ("POST", "/v1/realtime/sessions")] {
        let (status, _, body) = request(addr, method, path, &key, "{}").await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("OpenAI's error shape");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("spec.passthrough")), "{body}");
    }
    // An Anthropic client gets Anthropic's error shape.
    let (status, _, body) =
        request(addr, "POST", "/v1/messages/batches", &[key[0], ("anthropic-version", "2023-06-01")], "{}").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains(r#""type":"error""#), "{body}");
    assert!(fake.requests().is_empty(), "a refused path reached the provider");

    let open = closed.replace(
        "  provider: {type: openai,",
        "  models: [{name: gpt-4o-mini}]\n  passthrough: [{pathPrefix: /v1/files, methods: [GET]}]\n  provider: {type: openai,",
    );
    assert!(open.contains("passthrough: [{pathPrefix"), "{open}");
    let (_rt, addr) = start(&open).await;
    let (status, _, body) = request(addr, "GET", "/v1/files/file-1", &key, "").await;
    // Whatever the fake answers (it has no files API: its own 404), it is the fake's answer,
    // not the gateway's refusal.
    assert!(status != 0 && !body.contains("spec.passthrough"), "{status}: {body}");
    assert_eq!(fake.requests().len(), 1, "an opened path is forwarded");
    assert_eq!(fake.requests()[0].path, "/v1/files/file-1");
    assert_eq!(fake.requests()[0].header("authorization"), Some("Bearer sk-upstream"), "with the stored key");
    for (method, path) in [("POST", "/v1/files"), ("GET", "/v1/filesystem")] {
        let (status, _, body) = request(addr, method, path, &key, "{}").await;
        assert_eq!(status, 404, "{method} {path} is not what was opened: {body}");
    }
    // Models the backend does not serve are refused on opened paths too.
    let open_post = open.replace("methods: [GET]", "methods: [GET, POST]");
    let (_rt, addr) = start(&open_post).await;
    let (status, _, body) = request(addr, "POST", "/v1/files", &key, r#"{"model": "gpt-5-secret"}"#).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(fake.requests().len(), 1, "a model the backend does not serve never reaches the provider");
}
