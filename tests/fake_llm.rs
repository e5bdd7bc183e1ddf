//! The fake LLM providers on their own, driven by a raw hyper client: their wire format (JSON
//! bodies, SSE framing and event order, usage, errors, header checks) and their scripted
//! failures (reset, HTTP errors with Retry-After, stream cuts, in-stream errors).

mod support;

#[path = "fake_llm/gemini.rs"]
mod gemini;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::fake_llm::anthropic::{self, Block, FakeAnthropic};
use support::fake_llm::openai::{self, FakeOpenAi, ToolCall};

/// What the client saw: the status and headers (when a response head arrived), the body bytes
/// received, and the error that ended the exchange, if any.
#[derive(Debug)]
struct Seen {
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    error: Option<String>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Seen {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect to the fake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(Full::new(bytes)).expect("request");
    let resp = match tokio::time::timeout(Duration::from_secs(10), sender.send_request(req)).await.expect("in time") {
        Ok(r) => r,
        Err(e) => return Seen { status: None, headers: Vec::new(), body: Vec::new(), error: Some(format!("{e:?}")) },
    };
    let status = Some(resp.status().as_u16());
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let mut body = resp.into_body();
    let mut data = Vec::new();
    let mut error = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("body in time") {
            Some(Ok(frame)) => {
                if let Ok(d) = frame.into_data() {
                    data.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => {
                error = Some(format!("{e:?}"));
                break;
            }
            None => break,
        }
    }
    Seen { status, headers, body: data, error }
}

/// SSE events as (event name, data) pairs.
fn sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (event, data.join("\n"))
        })
        .collect()
}

const OPENAI_KEY: &str = "sk-fake-upstream-0123456789";
const ANTHROPIC_KEY: &str = "sk-ant-fake-upstream";

fn bearer() -> String {
    format!("Bearer {OPENAI_KEY}")
}

async fn openai_post(fake: &FakeOpenAi, path: &str, body: &Value) -> Seen {
    send(fake.addr(), "POST", path, &[("authorization", &bearer())], Some(body)).await
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "stream": stream})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_completion_json() {
    let usage = openai::Usage { prompt_tokens: 31, completion_tokens: 7, cached_tokens: 5, reasoning_tokens: 2 };
    let fake = FakeOpenAi::start(
        openai::Script::reply(openai::Reply::text("Hi there!").usage(usage).model("gpt-4o-mini-2024-07-18"))
            .api_key(OPENAI_KEY),
    )
    .await;
    let seen = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(seen.status, Some(200), "{}", seen.text());
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert!(seen.header("x-request-id").is_some());
    let v = seen.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there!");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({
            "prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38,
            "prompt_tokens_details": {"cached_tokens": 5, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        })
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("Authorization"), Some(bearer().as_str()));
    assert_eq!(reqs[0].body, chat(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_auth_errors_do_not_consume_the_queue() {
    let fake = FakeOpenAi::start(openai::Script::queue([openai::Behaviour::status(503)]).api_key(OPENAI_KEY)).await;
    let none = send(fake.addr(), "POST", "/v1/chat/completions", &[], Some(&chat(false))).await;
    assert_eq!(none.status, Some(401));
    let err = &none.json()["error"];
    assert_eq!(err["type"], "invalid_request_error");
    assert!(err["message"].as_str().expect("message").starts_with("You didn't provide an API key"));
    assert!(err.get("param").is_some() && err.get("code").is_some(), "{err}");

    let wrong = send(
        fake.addr(),
        "POST",
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-wrong-key-abcdef")],
        Some(&chat(false)),
    )
    .await;
    assert_eq!(wrong.status, Some(401));
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    assert!(wrong.json()["error"]["message"].as_str().expect("message").contains("sk-*****cdef"));
    assert_eq!(fake.queued(), 1, "refused requests leave the queue alone");

    let unknown = send(fake.addr(), "POST", "/v1/nope", &[("authorization", &bearer())], Some(&json!({}))).await;
    assert_eq!(unknown.status, Some(404));
    assert_eq!(unknown.json()["error"]["message"], "Invalid URL (POST /v1/nope)");
    assert_eq!(fake.requests().len(), 3, "every request is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_with_and_without_usage() {
    let usage = openai::Usage { prompt_tokens: 20, completion_tokens: 4, cached_tokens: 3, reasoning_tokens: 1 };
    let fake = FakeOpenAi::start(
        openai::Script::reply(openai::Reply::text("Hello, streaming world").chunks(4).usage(usage)).api_key(OPENAI_KEY),
    )
    .await;
    for include_usage in [false, true] {
        let mut body = chat(true);
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let seen = openai_post(&fake, "/v1/chat/completions", &body).await;
        assert_eq!(seen.status, Some(200));
        assert_eq!(seen.header("content-type"), Some("text/event-stream; charset=utf-8"));
        assert!(seen.error.is_none());
        let events = sse(&seen.text());
        assert!(events.iter().all(|(name, _)| name.is_none()), "OpenAI events are unnamed");
        assert_eq!(events.last().expect("events").1, "[DONE]");
        let chunks: Vec<Value> =
            events[..events.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).expect("chunk JSON")).collect();
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String =
            chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
        assert_eq!(text, "Hello, streaming world");
        let content_chunks = chunks
            .iter()
            .filter(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()))
            .count();
        assert_eq!(content_chunks, 4);
        let finishes: Vec<&Value> =
            chunks.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
        assert_eq!(finishes, [&json!("stop")]);
        if include_usage {
            let last = chunks.last().expect("usage chunk");
            assert_eq!(last["choices"], json!([]));
            assert_eq!(last["usage"]["prompt_tokens"], 20);
            assert_eq!(last["usage"]["completion_tokens"], 4);
            assert_eq!(last["usage"]["total_tokens"], 24);
            assert_eq!(last["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
            assert_eq!(last["usage"]["completion_tokens_details"]["reasoning_tokens"], 1);
            assert!(chunks[..chunks.len() - 1].iter().all(|c| c.get("usage") == Some(&Value::Null)));
        } else {
            assert!(chunks.iter().all(|c| c.get("usage").is_none()), "no usage key without include_usage");
            assert!(chunks.iter().all(|c| c["choices"].as_array().is_some_and(|a| a.len() == 1)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_parallel_tool_calls_streamed_and_not() {
    let reply = openai::Reply::tool_calls(vec![
        ToolCall::new("call_paris", "get_weather", r#"{"city":"Paris","unit":"celsius"}"#).chunks(4),
        ToolCall::new("call_rome", "get_weather", r#"{"city":"Rome"}"#).chunks(2),
    ]);
    let fake = FakeOpenAi::start(openai::Script::reply(reply).api_key(OPENAI_KEY)).await;

    let v = openai_post(&fake, "/v1/chat/completions", &chat(false)).await.json();
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        message["tool_calls"],
        json!([
            {"id": "call_paris", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}},
            {"id": "call_rome", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
        ])
    );

    let seen = openai_post(&fake, "/v1/chat/completions", &chat(true)).await;
    let events = sse(&seen.text());
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    for (_, data) in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(data).expect("chunk");
        let choice = &c["choices"][0];
        for tc in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let index = tc["index"].as_u64().expect("index") as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(index, calls.len(), "a new call starts at the next index");
                assert_eq!(tc["function"]["arguments"], "", "the head has empty arguments");
                calls.push((id.to_owned(), tc["function"]["name"].as_str().expect("name").to_owned(), String::new()));
            } else {
                assert!(tc.get("id").is_none() && tc["function"].get("name").is_none());
                calls[index].2.push_str(tc["function"]["arguments"].as_str().expect("fragment"));
            }
        }
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].as_str().map(str::to_owned);
        }
    }
    assert_eq!(
        calls,
        [
            ("call_paris".into(), "get_weather".into(), r#"{"city":"Paris","unit":"celsius"}"#.into()),
            ("call_rome".into(), "get_weather".into(), r#"{"city":"Rome"}"#.into())
        ]
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    // 1 head + 4 fragments, 1 head + 2 fragments, 1 finish, [DONE].
    assert_eq!(events.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_failover_queue_reset_503_429_then_success() {
    let fake = FakeOpenAi::start(
        openai::Script::queue([
            openai::Behaviour::Reset,
            openai::Behaviour::status(503),
            openai::Behaviour::status(429).retry_after("2"),
        ])
        .api_key(OPENAI_KEY),
    )
    .await;
    let reset = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(reset.status, None, "no response head before the reset");
    let error = reset.error.expect("an error");
    assert!(error.contains("ConnectionReset"), "a TCP reset, not a clean close: {error}");

    let unavailable = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(unavailable.status, Some(503));
    assert_eq!(unavailable.json()["error"]["type"], "server_error");

    let limited = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(limited.status, Some(429));
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");

    let ok = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(ok.status, Some(200));
    assert_eq!(ok.json()["choices"][0]["message"]["content"], "Hello from the fake OpenAI.");
    assert_eq!(fake.requests().len(), 4, "the reset request is recorded too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_cut_and_stream_error() {
    let reply = openai::Reply::text("one two three four").chunks(4);
    let fake = FakeOpenAi::start(
        openai::Script::queue([
            openai::Behaviour::Cut { reply: reply.clone(), after: 3 },
            openai::Behaviour::StreamError {
                reply: reply.clone(),
                after: 2,
                error: openai::error_body("The server had an error", "server_error", None, None),
            },
            openai::Behaviour::Cut { reply, after: 0 },
        ])
        .api_key(OPENAI_KEY),
    )
    .await;
    let cut = openai_post(&fake, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(cut.status, Some(200));
    assert!(cut.error.is_some(), "the body ends with an error, not a clean end");
    let events = sse(&cut.text());
    assert_eq!(events.len(), 3);
    assert!(!cut.text().contains("[DONE]"));

    let errored = openai_post(&fake, "/v1/chat/completions", &chat(true)).await;
    assert!(errored.error.is_none(), "an in-stream error ends the stream cleanly");
    let events = sse(&errored.text());
    assert_eq!(events.len(), 3);
    let last: Value = serde_json::from_str(&events[2].1).expect("error JSON");
    assert_eq!(last["error"]["type"], "server_error");

    // Non-streamed: half a JSON body, then the connection drops.
    let half = openai_post(&fake, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(half.status, Some(200));
    assert!(half.error.is_some());
    assert!(serde_json::from_slice::<Value>(&half.body).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_rejects_what_the_real_api_rejects() {
    let fake = FakeOpenAi::start(openai::Script::default().api_key(OPENAI_KEY)).await;
    let cases = [
        (json!({"messages": [{"role": "user", "content": "x"}]}), "you must provide a model parameter"),
        (json!({"model": "gpt-4o"}), "Missing required parameter: 'messages'."),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c1", "content": "r"}]}),
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
        ),
        (
            json!({"model": "gpt-4o", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "user", "content": "y"}]}),
            "An assistant message with 'tool_calls' must be followed by tool messages",
        ),
    ];
    for (body, message) in cases {
        let seen = openai_post(&fake, "/v1/chat/completions", &body).await;
        assert_eq!(seen.status, Some(400), "{body}");
        let err = &seen.json()["error"];
        assert_eq!(err["type"], "invalid_request_error");
        assert!(err["message"].as_str().expect("message").starts_with(message), "{err}");
    }
    let bad = send(
        fake.addr(),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &bearer()), ("content-type", "application/json")],
        None,
    )
    .await;
    assert_eq!(bad.status, Some(400));
    // A valid multi-turn conversation with a tool round trip passes.
    let ok = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": "thanks"}]});
    assert_eq!(openai_post(&fake, "/v1/chat/completions", &ok).await.status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_and_models() {
    let fake = FakeOpenAi::start(openai::Script::default().api_key(OPENAI_KEY)).await;
    let float = openai_post(
        &fake,
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"], "encoding_format": "float"}),
    )
    .await
    .json();
    assert_eq!(float["object"], "list");
    assert_eq!(float["data"].as_array().expect("data").len(), 2);
    assert_eq!(float["data"][1]["index"], 1);
    assert_eq!(float["data"][0]["object"], "embedding");
    assert_eq!(float["data"][0]["embedding"].as_array().expect("vector").len(), 8);
    assert!(float["usage"]["prompt_tokens"].as_u64().expect("usage") > 0);

    let b64 = openai_post(
        &fake,
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64", "dimensions": 8}),
    )
    .await
    .json();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().expect("base64 string"))
        .expect("base64");
    let decoded: Vec<f64> =
        raw.chunks(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes")))).collect();
    let floats: Vec<f64> =
        float["data"][0]["embedding"].as_array().expect("vector").iter().map(|x| x.as_f64().expect("f")).collect();
    assert_eq!(decoded, floats, "base64 is the same vector as little-endian f32");

    let models = send(fake.addr(), "GET", "/v1/models", &[("authorization", &bearer())], None).await.json();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> =
        models["data"].as_array().expect("data").iter().map(|m| m["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]);
    assert_eq!(models["data"][0]["object"], "model");
}

// ---- Anthropic -------------------------------------------------------------------------------

fn anthropic_headers() -> Vec<(&'static str, &'static str)> {
    vec![("x-api-key", ANTHROPIC_KEY), ("anthropic-version", anthropic::API_VERSION)]
}

async fn anthropic_post(fake: &FakeAnthropic, path: &str, body: &Value) -> Seen {
    send(fake.addr(), "POST", path, &anthropic_headers(), Some(body)).await
}

fn messages(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hi"}],
        "stream": stream
    })
}

fn full_usage() -> anthropic::Usage {
    anthropic::Usage {
        input_tokens: 25,
        output_tokens: 14,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_message_json() {
    let fake = FakeAnthropic::start(
        anthropic::Script::reply(anthropic::Reply::text("Hi!").usage(full_usage())).api_key(ANTHROPIC_KEY),
    )
    .await;
    let seen = anthropic_post(&fake, "/v1/messages", &messages(false)).await;
    assert_eq!(seen.status, Some(200), "{}", seen.text());
    assert!(seen.header("request-id").is_some());
    let v = seen.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-6");
    assert_eq!(v["content"], json!([{"type": "text", "text": "Hi!"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(v["usage"]["input_tokens"], 25);
    assert_eq!(v["usage"]["output_tokens"], 14);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 100);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 7);
    let req = &fake.requests()[0];
    assert_eq!(req.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.body, messages(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_header_checks() {
    let fake = FakeAnthropic::start(anthropic::Script::default().api_key(ANTHROPIC_KEY)).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str, &'a str);
    let cases: [Case; 3] = [
        (&[("anthropic-version", "2023-06-01")], 401, "authentication_error", "x-api-key header is required"),
        (
            &[("x-api-key", "wrong"), ("anthropic-version", "2023-06-01")],
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        (&[("x-api-key", ANTHROPIC_KEY)], 400, "invalid_request_error", "anthropic-version: header is required"),
    ];
    for (headers, status, kind, message) in cases {
        let seen = send(fake.addr(), "POST", "/v1/messages", headers, Some(&messages(false))).await;
        assert_eq!(seen.status, Some(status));
        let v = seen.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind);
        assert_eq!(v["error"]["message"], message);
        assert!(v["request_id"].as_str().is_some_and(|s| s.starts_with("req_")));
    }
    // The official Python SDK 2.x sends the API key as a bearer token: same check.
    for (key, status) in [(ANTHROPIC_KEY, 200), ("sk-ant-wrong", 401)] {
        let bearer = format!("Bearer {key}");
        let seen = send(
            fake.addr(),
            "POST",
            "/v1/messages",
            &[("authorization", &bearer), ("anthropic-version", "2023-06-01")],
            Some(&messages(false)),
        )
        .await;
        assert_eq!(seen.status, Some(status), "{}", seen.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_stream_event_order_with_thinking_text_and_tools() {
    let reply = anthropic::Reply::blocks(vec![
        Block::thinking("Let me think about the weather.", "sig-abc123"),
        Block::text("I'll check both cities.").chunks(2),
        Block::tool_use("toolu_paris", "get_weather", json!({"city": "Paris"})).chunks(3),
        Block::tool_use("toolu_rome", "get_weather", json!({"city": "Rome"})).chunks(2),
    ])
    .usage(full_usage());
    let fake = FakeAnthropic::start(anthropic::Script::reply(reply).api_key(ANTHROPIC_KEY)).await;
    let seen = anthropic_post(&fake, "/v1/messages", &messages(true)).await;
    assert_eq!(seen.status, Some(200));
    assert_eq!(seen.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let events = sse(&seen.text());
    let datas: Vec<Value> = events.iter().map(|(_, d)| serde_json::from_str(d).expect("event JSON")).collect();
    for ((name, _), data) in events.iter().zip(&datas) {
        assert_eq!(name.as_deref(), data["type"].as_str(), "the event name is the data's type");
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().expect("named")).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert_eq!(names[2], "ping");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);

    let start = &datas[0]["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["usage"]["input_tokens"], 25);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 100);
    assert_eq!(start["usage"]["cache_creation_input_tokens"], 7);
    assert_eq!(start["usage"]["output_tokens"], 1);

    // Rebuild the blocks from the deltas, checking each block's start/stop bracket.
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_bufs: Vec<String> = Vec::new();
    let mut open: Option<u64> = None;
    for d in &datas {
        match d["type"].as_str().expect("type") {
            "content_block_start" => {
                assert!(open.is_none());
                assert_eq!(d["index"].as_u64(), Some(blocks.len() as u64));
                open = d["index"].as_u64();
                blocks.push(d["content_block"].clone());
                json_bufs.push(String::new());
            }
            "content_block_delta" => {
                let i = d["index"].as_u64().expect("index");
                assert_eq!(open, Some(i));
                let b = &mut blocks[i as usize];
                let delta = &d["delta"];
                match delta["type"].as_str().expect("delta type") {
                    "text_delta" => {
                        b["text"] = json!(format!(
                            "{}{}",
                            b["text"].as_str().expect("text"),
                            delta["text"].as_str().expect("t")
                        ));
                    }
                    "thinking_delta" => {
                        b["thinking"] = json!(format!(
                            "{}{}",
                            b["thinking"].as_str().expect("thinking"),
                            delta["thinking"].as_str().expect("t")
                        ));
                    }
                    "signature_delta" => b["signature"] = delta["signature"].clone(),
                    "input_json_delta" => json_bufs[i as usize].push_str(delta["partial_json"].as_str().expect("pj")),
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = d["index"].as_u64().expect("index");
                assert_eq!(open, Some(i));
                open = None;
                if !json_bufs[i as usize].is_empty() {
                    blocks[i as usize]["input"] = serde_json::from_str(&json_bufs[i as usize]).expect("input JSON");
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        blocks,
        [
            json!({"type": "thinking", "thinking": "Let me think about the weather.", "signature": "sig-abc123"}),
            json!({"type": "text", "text": "I'll check both cities."}),
            json!({"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}}),
            json!({"type": "tool_use", "id": "toolu_rome", "name": "get_weather", "input": {"city": "Rome"}}),
        ]
    );
    let delta = &datas[datas.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"], json!({"output_tokens": 14}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_rejects_what_the_real_api_rejects() {
    let fake = FakeAnthropic::start(anthropic::Script::default().api_key(ANTHROPIC_KEY)).await;
    let user = json!({"role": "user", "content": "x"});
    let tool_use =
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]});
    let cases = [
        (json!({"model": "claude-sonnet-4-6", "messages": [user]}), "max_tokens: Field required"),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "system", "content": "s"}, user]}),
            "messages: Unexpected role \"system\"",
        ),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "temperature": 1.5, "messages": [user]}),
            "temperature:",
        ),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [user, tool_use, {"role": "user", "content": "no result"}]}),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
        ),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [user, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "r"}]}]}),
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
        ),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [user],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
            "tools.0",
        ),
        (
            json!({"model": "claude-sonnet-4-6", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 4000}, "messages": [user]}),
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
    ];
    for (body, message) in cases {
        let seen = anthropic_post(&fake, "/v1/messages", &body).await;
        assert_eq!(seen.status, Some(400), "{body}");
        let v = seen.json();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().expect("message").starts_with(message), "{v}");
    }
    let ok = json!({"model": "claude-sonnet-4-6", "max_tokens": 10, "system": [{"type": "text", "text": "s"}],
        "messages": [user, tool_use, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]}]});
    assert_eq!(anthropic_post(&fake, "/v1/messages", &ok).await.status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_count_tokens_models_and_failures() {
    let fake = FakeAnthropic::start(
        anthropic::Script::queue([
            anthropic::Behaviour::Reply(anthropic::Reply::text("").usage(anthropic::Usage::new(42, 0))),
            anthropic::Behaviour::Reply(anthropic::Reply::text("")),
            anthropic::Behaviour::Reset,
            anthropic::Behaviour::status(529),
            anthropic::Behaviour::status(429).retry_after("7"),
            anthropic::Behaviour::StreamError {
                reply: anthropic::Reply::text("partial answer"),
                after: 3,
                error: anthropic::status_error(529),
            },
            anthropic::Behaviour::Cut { reply: anthropic::Reply::text("cut short"), after: 2 },
        ])
        .api_key(ANTHROPIC_KEY),
    )
    .await;
    let body = json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "count me"}]});
    let counted = anthropic_post(&fake, "/v1/messages/count_tokens", &body).await;
    assert_eq!(counted.json(), json!({"input_tokens": 42}));

    let models = send(fake.addr(), "GET", "/v1/models", &anthropic_headers(), None).await.json();
    assert_eq!(models["data"][0]["type"], "model");
    assert_eq!(models["data"][0]["id"], "claude-sonnet-4-6");
    assert_eq!(models["has_more"], false);

    let reset = anthropic_post(&fake, "/v1/messages", &messages(false)).await;
    assert_eq!(reset.status, None);
    assert!(reset.error.is_some());

    let overloaded = anthropic_post(&fake, "/v1/messages", &messages(false)).await;
    assert_eq!(overloaded.status, Some(529));
    assert_eq!(overloaded.json()["error"]["type"], "overloaded_error");

    let limited = anthropic_post(&fake, "/v1/messages", &messages(false)).await;
    assert_eq!(limited.status, Some(429));
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");

    let errored = anthropic_post(&fake, "/v1/messages", &messages(true)).await;
    assert!(errored.error.is_none());
    let events = sse(&errored.text());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().expect("named")).collect();
    assert_eq!(names, ["message_start", "content_block_start", "ping", "error"]);
    let error: Value = serde_json::from_str(&events[3].1).expect("error JSON");
    assert_eq!(error["error"]["type"], "overloaded_error");

    let cut = anthropic_post(&fake, "/v1/messages", &messages(true)).await;
    assert_eq!(cut.status, Some(200));
    assert!(cut.error.is_some());
    assert_eq!(sse(&cut.text()).len(), 2);
    assert_eq!(fake.requests().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_are_paced_not_buffered() {
    let fake = FakeOpenAi::start(openai::Script::reply(
        openai::Reply::text("abc").chunks(3).interval(Duration::from_millis(200)),
    ))
    .await;
    let tcp = tokio::net::TcpStream::connect(fake.addr()).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::post("/v1/chat/completions")
        .header("host", "fake")
        .header("authorization", "Bearer any")
        .body(Full::new(Bytes::from(chat(true).to_string())))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let mut body = resp.into_body();
    let started = std::time::Instant::now();
    let first = body.frame().await.expect("a frame").expect("data");
    assert!(first.is_data());
    assert!(started.elapsed() < Duration::from_millis(500), "the first event comes at once");
    let mut frames = 1;
    while let Some(Ok(_)) = body.frame().await {
        frames += 1;
    }
    assert!(frames >= 5, "one frame per event");
    // Six events (role, three texts, finish, [DONE]) with five pauses between them.
    assert!(started.elapsed() >= Duration::from_millis(1000), "events are paced by the interval");
}
