//! Golden fixtures of the Bedrock translations: both client formats' requests to `Converse`,
//! and Bedrock's answers and `ConverseStream` events back to every front door.
//! `SLUICE_UPDATE_GOLDEN=1` rewrites them.

use serde_json::{Value, json};

use super::tests::{anthropic_request, golden, openai_request, pretty};
use super::{
    anthropic, anthropic_stream, bedrock, bedrock_stream, openai_chat, openai_responses, openai_responses_stream,
    openai_stream,
};
use crate::ai::canonical::{Part, StopReason, StreamEvent};

const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

#[test]
fn openai_request_to_bedrock() {
    let req = openai_chat::parse_request(&openai_request()).expect("parse");
    let body = bedrock::build_request(&req, CLAUDE).expect("build");
    assert_eq!(body["system"], json!([{"text": "You are terse."}]));
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}})
    );
    // Both tool results and the next question make one user turn (roles alternate).
    let results = body["messages"][2]["content"].as_array().expect("user turn");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["toolResult"]["toolUseId"], "call_1");
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]})
    );
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"auto": {}}));
    assert_eq!(body["outputConfig"]["textFormat"]["type"], "json_schema");
    assert_eq!(body["additionalModelRequestFields"]["thinking"]["budget_tokens"], 24_576);
    golden("openai_request_to_bedrock.json", &pretty(&body));
}

#[test]
fn anthropic_request_to_bedrock() {
    let req = anthropic::parse_request(&anthropic_request()).expect("parse");
    let body = bedrock::build_request(&req, CLAUDE).expect("build");
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"reasoningContent": {"reasoningText": {"text": "Use the tool.", "signature": "sig"}}})
    );
    assert_eq!(
        body["messages"][1]["content"][1],
        json!({"toolUse": {"toolUseId": "toolu_1", "name": "weather", "input": {"city": "Paris"}}})
    );
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"any": {}}));
    assert_eq!(body["additionalModelRequestFields"], json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}));
    golden("anthropic_request_to_bedrock.json", &pretty(&body));
}

#[test]
fn images_by_url_and_odd_formats_are_refused() {
    let mut raw = openai_request();
    raw["messages"][1]["content"][1]["image_url"]["url"] = json!("https://example.com/cat.png");
    let req = openai_chat::parse_request(&raw).expect("parse");
    let err = bedrock::build_request(&req, CLAUDE).expect_err("a URL image");
    assert_eq!(err.status, 400);
    assert!(err.message.contains("bytes only"), "{}", err.message);
    // Thinking settings are Anthropic's: other models do not get them.
    let req = openai_chat::parse_request(&openai_request()).expect("parse");
    let body = bedrock::build_request(&req, "amazon.nova-pro-v1:0").expect("build");
    assert!(body.get("additionalModelRequestFields").is_none(), "{body}");
}

fn bedrock_response() -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Two cities.", "signature": "EqQBsig"}}},
            {"text": "Checking both."},
            {"toolUse": {"toolUseId": "tooluse_paris", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_rome", "name": "weather", "input": {"city": "Rome"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 100, "outputTokens": 42, "totalTokens": 192, "cacheReadInputTokens": 30, "cacheWriteInputTokens": 20},
        "metrics": {"latencyMs": 812}
    })
}

#[test]
fn bedrock_response_to_every_front_door() {
    let mut r = bedrock::parse_response(&bedrock_response()).expect("parse");
    r.id = "req-1".into();
    r.model = CLAUDE.into();
    assert_eq!(r.stop, Some(StopReason::ToolUse));
    let u = r.usage.expect("usage");
    assert_eq!((u.input, u.cache_read, u.cache_creation, u.output), (150, 30, 20, 42));
    assert!(matches!(&r.parts[0], Part::Thinking { signature: Some(s), .. } if s == "EqQBsig"));
    let openai = openai_chat::render_response(&r, 1_700_000_000);
    assert_eq!(openai["usage"]["prompt_tokens"], 150);
    assert_eq!(openai["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    golden("bedrock_response_to_openai.json", &pretty(&openai));
    let anthropic = anthropic::render_response(&r);
    assert_eq!(anthropic["usage"]["input_tokens"], 100);
    assert_eq!(anthropic["usage"]["cache_creation_input_tokens"], 20);
    golden("bedrock_response_to_anthropic.json", &pretty(&anthropic));
    let responses = openai_responses::render_response(&r, 1_700_000_000, &json!({"model": CLAUDE}));
    golden("bedrock_response_to_responses.json", &pretty(&responses));
}

/// ConverseStream events as (event type, payload): reasoning, text in two deltas, a tool call
/// whose input arrives in two pieces, the stop, then the usage.
fn bedrock_stream() -> Vec<(&'static str, Value)> {
    vec![
        ("messageStart", json!({"role": "assistant"})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Two cities."}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqQBsig"}}})),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Checking "}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "both."}})),
        ("contentBlockStop", json!({"contentBlockIndex": 1})),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_paris", "name": "weather"}}}),
        ),
        ("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}})),
        ("contentBlockStop", json!({"contentBlockIndex": 2})),
        ("messageStop", json!({"stopReason": "tool_use"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 100, "outputTokens": 42, "totalTokens": 142}, "metrics": {"latencyMs": 700}}),
        ),
    ]
}

fn decode_all(events: &[(&str, Value)]) -> Vec<StreamEvent> {
    let mut dec = bedrock_stream::Decoder::new("req-7".into());
    let mut evs = Vec::new();
    for (name, data) in events {
        dec.decode(name, &data.to_string(), &mut evs);
    }
    dec.finish(&mut evs);
    evs
}

#[test]
fn bedrock_stream_to_every_front_door() {
    let evs = decode_all(&bedrock_stream());
    assert_eq!(evs.last(), Some(&StreamEvent::End));
    let mut out = String::new();
    let mut enc = openai_stream::Encoder::new(CLAUDE, 1_700_000_000, true);
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    assert!(out.contains("\"finish_reason\":\"tool_calls\""), "{out}");
    assert!(out.contains("\"id\":\"req-7\""), "{out}");
    golden("bedrock_stream_to_openai.sse", &out);
    let mut out = String::new();
    let mut enc = anthropic_stream::Encoder::new(CLAUDE);
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    assert!(out.contains("\"partial_json\":\"{\\\"city\\\":\""), "tool input streams piece by piece: {out}");
    golden("bedrock_stream_to_anthropic.sse", &out);
    let mut out = String::new();
    let mut enc = openai_responses_stream::Encoder::new(CLAUDE, 1_700_000_000, &json!({"model": CLAUDE}));
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    golden("bedrock_stream_to_responses.sse", &out);
}

#[test]
fn cut_streams_and_exceptions() {
    let events = bedrock_stream();
    let evs = decode_all(&events[..6]);
    assert!(!evs.iter().any(|e| matches!(e, StreamEvent::End | StreamEvent::Stop(_))), "cut: {evs:?}");
    // Stopped, but the metadata never came: complete, without usage.
    let evs = decode_all(&events[..12]);
    assert_eq!(evs.last(), Some(&StreamEvent::End));
    let mut dec = bedrock_stream::Decoder::default();
    let mut evs = Vec::new();
    dec.decode("exception:throttlingException", r#"{"message":"Too many tokens, please wait."}"#, &mut evs);
    assert!(
        matches!(&evs[0], StreamEvent::Error { kind: crate::ai::errors::ErrorKind::RateLimit, message }
        if message == "throttlingException: Too many tokens, please wait."),
        "{evs:?}"
    );
}
