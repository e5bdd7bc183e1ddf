//! Golden fixtures of the Responses API front door: a Responses request to the canonical
//! model and on to OpenAI chat completions and Anthropic; canonical responses and streams
//! (decoded from OpenAI and Anthropic providers) to a Responses object and its events.

use serde_json::{Value, json};

use super::tests::{golden, pretty};
use super::{anthropic, anthropic_stream, openai_chat, openai_responses, openai_responses_stream, openai_stream};
use crate::ai::canonical::*;
use crate::ai::errors::ErrorKind;

fn responses_request() -> Value {
    json!({
        "model": "gpt-4o",
        "instructions": "You are terse.",
        "input": [
            {"role": "developer", "content": "Answer in English."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in this image, and what is the weather in Paris?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "time", "arguments": "{\"tz\":\"Europe/Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C, cloudy"},
            {"type": "function_call_output", "call_id": "call_2", "output": "14:05"},
            {"role": "user", "content": "Summarise."}
        ],
        "tools": [
            {"type": "function", "name": "weather", "description": "Current weather", "strict": true,
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}},
            {"type": "function", "name": "time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}
        ],
        "tool_choice": {"type": "function", "name": "weather"},
        "max_output_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "text": {"format": {"type": "json_schema", "name": "summary", "schema": {"type": "object"}, "strict": true}},
        "reasoning": {"effort": "high"},
        "parallel_tool_calls": false,
        "stream": true
    })
}

#[test]
fn responses_request_to_openai_chat() {
    let req = openai_responses::parse_request(&responses_request()).expect("parse");
    assert_eq!(req.system, ["You are terse.", "Answer in English."]);
    assert_eq!(req.messages.len(), 4, "user, assistant (text + 2 calls), user (2 results), user");
    golden("responses_request_to_openai.json", &pretty(&openai_chat::build_request(&req, "gpt-4o")));
}

#[test]
fn responses_request_to_anthropic() {
    let req = openai_responses::parse_request(&responses_request()).expect("parse");
    golden("responses_request_to_anthropic.json", &pretty(&anthropic::build_request(&req, "claude-sonnet-4-5")));
}

#[test]
fn responses_string_input_and_json_mode() {
    let req = openai_responses::parse_request(&json!({
        "model": "m", "input": "Hi", "text": {"format": {"type": "json_object"}}
    }))
    .expect("parse");
    assert_eq!(req.messages, [Message { role: Role::User, parts: vec![Part::Text("Hi".into())] }]);
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));
    assert!(!req.stream);
}

/// What Codex CLI sends besides function tools: a web search tool, a namespace of tools, and
/// the record of a built-in tool's call. Other providers can carry none of them: dropped.
#[test]
fn built_in_tools_and_their_records_are_dropped() {
    let body = json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "hi"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "close_agent"}]},
        {"type": "web_search", "external_web_access": false}
    ]});
    let req = openai_responses::parse_request(&body).expect("parse");
    assert_eq!(req.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["exec_command"]);
    assert_eq!(req.messages, [Message { role: Role::User, parts: vec![Part::Text("hi".into())] }]);
}

#[test]
fn responses_bad_requests_name_the_field() {
    let cases = [
        (json!({"model": "m", "input": 5}), "input"),
        (json!({"model": "m", "input": [{"type": "message", "role": "user", "content": 5}]}), "input[0].content"),
        (json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}), "input[0].type"),
        (json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}), "previous_response_id"),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
            "input[0].call_id",
        ),
        (json!({"model": "m"}), "input"),
    ];
    for (body, param) in cases {
        let e = openai_responses::parse_request(&body).expect_err("bad request");
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
    }
}

#[test]
fn anthropic_response_to_responses_object() {
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
    let request = json!({"model": "claude-sonnet-4-5", "input": "x", "tools": [], "max_output_tokens": 100});
    let out = openai_responses::render_response(&r, 1_700_000_000, &request);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["usage"]["input_tokens"], 150);
    assert_eq!(out["usage"]["input_tokens_details"]["cached_tokens"], 30);
    assert_eq!(out["usage"]["total_tokens"], 190);
    golden("anthropic_response_to_responses.json", &pretty(&out));
}

#[test]
fn openai_response_to_responses_object_incomplete() {
    let upstream = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Once upon a"}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
                  "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 5}}
    });
    let r = openai_chat::parse_response(&upstream).expect("parse");
    let out = openai_responses::render_response(&r, 1_700_000_000, &json!({"model": "gpt-4o", "input": "x"}));
    assert_eq!(out["status"], "incomplete");
    assert_eq!(out["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(out["usage"]["output_tokens_details"]["reasoning_tokens"], 5);
    golden("openai_response_to_responses.json", &pretty(&out));
}

fn run_encoder(evs: &[StreamEvent]) -> String {
    let mut enc = openai_responses_stream::Encoder::new("gpt-4o", 1_700_000_000, &json!({"input": "x"}));
    let mut out = String::new();
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    out
}

/// The `data` payloads of an SSE text, checking each `event:` name equals its `type` and
/// that sequence numbers count from 0.
fn payloads(sse: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for block in sse.split("\n\n").filter(|b| !b.is_empty()) {
        let (event, data) = block.split_once('\n').expect("event and data lines");
        let v: Value = serde_json::from_str(data.strip_prefix("data: ").expect("data")).expect("json");
        assert_eq!(event.strip_prefix("event: "), v["type"].as_str(), "{block}");
        assert_eq!(v["sequence_number"], out.len(), "{block}");
        out.push(v);
    }
    out
}

#[test]
fn openai_stream_to_responses_events() {
    let chunks = [
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Checking"}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": " now."}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "c1", "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16, "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}}),
    ];
    let mut dec = openai_stream::Decoder::default();
    let mut evs = Vec::new();
    for c in chunks.iter().map(Value::to_string).chain(std::iter::once("[DONE]".to_string())) {
        dec.decode(&c, &mut evs);
    }
    let out = run_encoder(&evs);
    let p = payloads(&out);
    let last = p.last().expect("events");
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["usage"]["input_tokens"], 9);
    assert_eq!(last["response"]["usage"]["input_tokens_details"]["cached_tokens"], 2);
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Checking now.");
    assert_eq!(last["response"]["output"][1]["arguments"], "{\"city\":\"Oslo\"}");
    golden("openai_stream_to_responses.sse", &out);
}

#[test]
fn anthropic_stream_to_responses_events() {
    let events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 4}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Short."}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Once upon"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 25}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let mut dec = anthropic_stream::Decoder::default();
    let mut evs = Vec::new();
    for (name, data) in &events {
        dec.decode(name, &data.to_string(), &mut evs);
    }
    let out = run_encoder(&evs);
    let p = payloads(&out);
    let last = p.last().expect("events");
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(last["response"]["usage"]["input_tokens"], 16, "input 12 + cache read 4");
    assert_eq!(last["response"]["usage"]["output_tokens"], 25);
    golden("anthropic_stream_to_responses.sse", &out);
}

#[test]
fn broken_stream_fails_the_response() {
    let evs = [
        StreamEvent::Start { id: "c9".into(), model: "gpt-4o".into() },
        StreamEvent::TextDelta("Hal".into()),
        StreamEvent::Error { kind: ErrorKind::Upstream, message: "the provider's stream broke".into() },
        StreamEvent::End,
    ];
    let out = run_encoder(&evs);
    let p = payloads(&out);
    let types: Vec<&str> = p.iter().map(|v| v["type"].as_str().expect("type")).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "error",
            "response.failed"
        ]
    );
    let failed = &p[6]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["message"], "the provider's stream broke");
    assert_eq!(failed["id"], "resp_c9");
}
