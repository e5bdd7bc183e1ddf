//! Golden fixtures of every translation: request, response and stream, in both directions.
//! Run with `SLUICE_UPDATE_GOLDEN=1` to rewrite the fixtures after an intended change.

use serde_json::{Value, json};

use super::{anthropic, anthropic_stream, openai_chat, openai_stream};
use crate::ai::canonical::StreamEvent;

pub(super) fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ai/wire/golden").join(name);
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}; run with SLUICE_UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "translation differs from {}", path.display());
}

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("json") + "\n"
}

pub(super) fn openai_request() -> Value {
    json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image, and what is the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
            {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
            {"role": "user", "content": "Summarise."}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "Current weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": "auto",
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
        "reasoning_effort": "high",
        "stream": true,
        "stream_options": {"include_usage": true}
    })
}

pub(super) fn anthropic_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
        ],
        "tools": [{"name": "weather", "description": "Current weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u-1"},
        "stream": false
    })
}

#[test]
fn openai_request_to_anthropic() {
    let req = openai_chat::parse_request(&openai_request()).expect("parse");
    golden("openai_request_to_anthropic.json", &pretty(&anthropic::build_request(&req, "claude-sonnet-4-5")));
}

#[test]
fn anthropic_request_to_openai() {
    let req = anthropic::parse_request(&anthropic_request()).expect("parse");
    golden("anthropic_request_to_openai.json", &pretty(&openai_chat::build_request(&req, "gpt-4o")));
}

#[test]
fn anthropic_response_to_openai_keeps_every_token_class() {
    let upstream = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Check the tool.", "signature": "sig"},
            {"type": "text", "text": "Calling the tool."},
            {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 20}
    });
    let r = anthropic::parse_response(&upstream).expect("parse");
    let usage = r.usage.expect("usage");
    assert_eq!((usage.input, usage.output, usage.cache_read, usage.cache_creation), (150, 40, 30, 20));
    let out = openai_chat::render_response(&r, 1_700_000_000);
    assert_eq!(out["usage"]["prompt_tokens"], 150);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
    golden("anthropic_response_to_openai.json", &pretty(&out));
    // And back: the Anthropic classes come out as they went in.
    let back = anthropic::render_response(&openai_chat::parse_response(&out).expect("reparse"));
    assert_eq!(back["usage"]["input_tokens"], 120, "cache creation is not an OpenAI class, so it folds into input");
}

#[test]
fn openai_response_to_anthropic() {
    let upstream = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
        ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
                  "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 5}}
    });
    let r = openai_chat::parse_response(&upstream).expect("parse");
    let out = anthropic::render_response(&r);
    assert_eq!(out["usage"]["input_tokens"], 40);
    assert_eq!(out["usage"]["cache_read_input_tokens"], 10);
    golden("openai_response_to_anthropic.json", &pretty(&out));
}

fn sse(events: &[(&str, Value)]) -> Vec<(String, String)> {
    events.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn anthropic_stream_to_openai_chunks() {
    let events = sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 4}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 25}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    let mut dec = anthropic_stream::Decoder::default();
    let mut enc = openai_stream::Encoder::new("claude", 1_700_000_000, true);
    let mut out = String::new();
    let mut evs = Vec::new();
    for (name, data) in &events {
        evs.clear();
        dec.decode(name, data, &mut evs);
        evs.iter().for_each(|e| enc.encode(e, &mut out));
    }
    assert!(out.contains("\"prompt_tokens\":16"), "input 12 + cache read 4: {out}");
    golden("anthropic_stream_to_openai.sse", &out);
}

#[test]
fn openai_stream_to_anthropic_events() {
    let chunks = [
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16, "prompt_tokens_details": {"cached_tokens": 2}}}),
    ];
    let mut dec = openai_stream::Decoder::default();
    let mut enc = anthropic_stream::Encoder::new("gpt-4o");
    let mut out = String::new();
    let mut evs: Vec<StreamEvent> = Vec::new();
    for c in chunks.iter().map(Value::to_string).chain(std::iter::once("[DONE]".to_string())) {
        evs.clear();
        dec.decode(&c, &mut evs);
        evs.iter().for_each(|e| enc.encode(e, &mut out));
    }
    assert!(out.contains("\"input_tokens\":7") && out.contains("\"cache_read_input_tokens\":2"), "{out}");
    golden("openai_stream_to_anthropic.sse", &out);
}

#[test]
fn bad_requests_name_the_field() {
    let e = openai_chat::parse_request(&json!({"model": "m", "messages": [{"role": "user", "content": 5}]}))
        .expect_err("bad content");
    assert!(e.message.contains("messages[0]"), "{}", e.message);
    let e = anthropic::parse_request(&json!({"model": "m", "messages": []})).expect_err("no max_tokens");
    assert_eq!(e.param.as_deref(), Some("max_tokens"));
    let e = openai_chat::parse_request(&json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}))
        .expect_err("role");
    assert!(e.message.contains("robot"), "{}", e.message);
}
