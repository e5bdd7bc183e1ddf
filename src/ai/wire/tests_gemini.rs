//! Golden fixtures of the Gemini translations: both client formats' requests to Gemini, and
//! Gemini's responses and streams back to both. `SLUICE_UPDATE_GOLDEN=1` rewrites them.

use serde_json::{Value, json};

use super::tests::{anthropic_request, golden, openai_request, pretty};
use super::{anthropic, anthropic_stream, gemini, gemini_stream, openai_chat, openai_stream};
use crate::ai::canonical::{Part, StopReason, StreamEvent};

#[test]
fn openai_request_to_gemini() {
    let req = openai_chat::parse_request(&openai_request()).expect("parse");
    let body = gemini::build_request(&req);
    // The tool results answer the calls by name, in one user turn with the next question.
    assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["name"], "weather");
    assert_eq!(body["contents"][2]["parts"][1]["functionResponse"]["name"], "time");
    // An OpenAI history has no thought signatures: the first call gets Google's placeholder.
    assert_eq!(body["contents"][1]["parts"][0]["thoughtSignature"], gemini::PLACEHOLDER_SIGNATURE);
    assert!(body["contents"][1]["parts"][1].get("thoughtSignature").is_none());
    golden("openai_request_to_gemini.json", &pretty(&body));
}

#[test]
fn anthropic_request_to_gemini() {
    let req = anthropic::parse_request(&anthropic_request()).expect("parse");
    let body = gemini::build_request(&req);
    assert_eq!(
        body["contents"][1]["parts"][0],
        json!({"text": "Use the tool.", "thought": true, "thoughtSignature": "sig"})
    );
    assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["id"], "toolu_1");
    golden("anthropic_request_to_gemini.json", &pretty(&body));
}

fn gemini_response() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "The user wants the weather in two cities.", "thought": true},
                {"text": "Checking "},
                {"text": "both."},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBVKhc7sig=="},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
            ]},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {
            "promptTokenCount": 120, "cachedContentTokenCount": 20, "candidatesTokenCount": 30,
            "thoughtsTokenCount": 12, "totalTokenCount": 162,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}]
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mM2jaPbrAe"
    })
}

#[test]
fn gemini_response_to_openai() {
    let r = gemini::parse_response(&gemini_response()).expect("parse");
    assert_eq!(r.stop, Some(StopReason::ToolUse), "STOP with function calls is a tool-use stop");
    let u = r.usage.expect("usage");
    assert_eq!((u.input, u.cache_read, u.output, u.reasoning), (120, 20, 42, 12));
    let out = openai_chat::render_response(&r, 1_700_000_000);
    assert_eq!(out["usage"]["prompt_tokens"], 120);
    assert_eq!(out["usage"]["completion_tokens"], 42);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 20);
    assert_eq!(out["usage"]["completion_tokens_details"]["reasoning_tokens"], 12);
    golden("gemini_response_to_openai.json", &pretty(&out));
}

#[test]
fn gemini_response_to_anthropic() {
    let r = gemini::parse_response(&gemini_response()).expect("parse");
    let out = anthropic::render_response(&r);
    assert_eq!(out["usage"]["input_tokens"], 100, "cached tokens leave input_tokens");
    assert_eq!(out["usage"]["cache_read_input_tokens"], 20);
    assert_eq!(out["usage"]["output_tokens"], 42);
    golden("gemini_response_to_anthropic.json", &pretty(&out));
    // The Anthropic client sends the turn back: the signature returns to its function call.
    let req = anthropic::parse_request(&json!({
        "model": "gemini-2.5-flash", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": out["content"]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_0", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp\": 25}"}
            ]}
        ]
    }))
    .expect("parse");
    let body = gemini::build_request(&req);
    let model = &body["contents"][1]["parts"];
    assert_eq!(model[0], json!({"text": "The user wants the weather in two cities.", "thought": true}));
    assert_eq!(model[1], json!({"text": "Checking both."}));
    assert_eq!(
        model[2],
        json!({"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBVKhc7sig=="})
    );
    assert_eq!(model[3], json!({"functionCall": {"name": "weather", "args": {"city": "Rome"}}}));
    let results = &body["contents"][2]["parts"];
    assert_eq!(results[0], json!({"functionResponse": {"name": "weather", "response": {"output": "18C"}}}));
    assert_eq!(results[1], json!({"functionResponse": {"name": "weather", "response": {"temp": 25}}}));
}

/// The events of a streamed answer: a thought, text in two pieces, two whole function calls
/// (the first with its signature), then the finish reason with the final usage.
fn gemini_stream() -> Vec<Value> {
    let meta =
        |usage: Value| json!({"usageMetadata": usage, "modelVersion": "gemini-2.5-flash", "responseId": "stream-1"});
    let chunk = |parts: Value, finish: Option<&str>, usage: Value| {
        let mut v = meta(usage);
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        v["candidates"] = json!([c]);
        v
    };
    let early = json!({"promptTokenCount": 120, "totalTokenCount": 120});
    vec![
        chunk(json!([{"text": "Two cities.", "thought": true}]), None, early.clone()),
        chunk(json!([{"text": "Checking "}]), None, early.clone()),
        chunk(json!([{"text": "both."}]), None, early.clone()),
        chunk(
            json!([{"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBsig=="}]),
            None,
            early,
        ),
        chunk(
            json!([{"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]),
            Some("STOP"),
            json!({"promptTokenCount": 120, "cachedContentTokenCount": 20, "candidatesTokenCount": 30,
                   "thoughtsTokenCount": 12, "totalTokenCount": 162}),
        ),
    ]
}

fn decode_all(chunks: &[Value]) -> Vec<StreamEvent> {
    let mut dec = gemini_stream::Decoder::default();
    let mut evs = Vec::new();
    for c in chunks {
        dec.decode(&c.to_string(), &mut evs);
    }
    dec.finish(&mut evs);
    evs
}

#[test]
fn gemini_stream_to_openai_chunks() {
    let evs = decode_all(&gemini_stream());
    let mut enc = openai_stream::Encoder::new("gemini-2.5-flash", 1_700_000_000, true);
    let mut out = String::new();
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    assert!(out.contains("\"finish_reason\":\"tool_calls\""), "{out}");
    assert!(out.contains("\"prompt_tokens\":120") && out.contains("\"completion_tokens\":42"), "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"));
    golden("gemini_stream_to_openai.sse", &out);
}

#[test]
fn gemini_stream_to_anthropic_events() {
    let evs = decode_all(&gemini_stream());
    let mut enc = anthropic_stream::Encoder::new("gemini-2.5-flash");
    let mut out = String::new();
    evs.iter().for_each(|e| enc.encode(e, &mut out));
    assert!(out.contains("\"input_tokens\":100") && out.contains("\"cache_read_input_tokens\":20"), "{out}");
    assert!(out.contains("\"stop_reason\":\"tool_use\""), "{out}");
    golden("gemini_stream_to_anthropic.sse", &out);
}

#[test]
fn a_gemini_stream_without_finish_reason_is_cut() {
    let chunks = gemini_stream();
    let evs = decode_all(&chunks[..2]);
    assert!(!evs.iter().any(|e| matches!(e, StreamEvent::End | StreamEvent::Stop(_))), "{evs:?}");
    let mut dec = gemini_stream::Decoder::default();
    let mut evs = Vec::new();
    dec.decode(r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#, &mut evs);
    assert!(matches!(&evs[0], StreamEvent::Error { message, .. } if message == "The model is overloaded."));
}

#[test]
fn finish_reasons_blocks_and_ids() {
    let r = gemini::parse_response(&json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"id": "fc-7", "name": "f", "args": {}}}
        ]}, "finishReason": "MAX_TOKENS"}]
    }))
    .expect("parse");
    assert_eq!(r.stop, Some(StopReason::MaxTokens));
    assert!(matches!(&r.parts[0], Part::ToolCall { id, .. } if id == "fc-7"), "Gemini's own ids are kept");
    for (reason, want) in [
        ("SAFETY", StopReason::ContentFilter),
        ("RECITATION", StopReason::ContentFilter),
        ("MALFORMED_FUNCTION_CALL", StopReason::Other("MALFORMED_FUNCTION_CALL".into())),
    ] {
        assert_eq!(gemini::stop_reason(reason, false), want);
    }
    let blocked = gemini::parse_response(
        &json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}),
    )
    .expect("a blocked prompt still answers");
    assert_eq!(blocked.stop, Some(StopReason::ContentFilter));
    assert!(blocked.parts.is_empty());
    assert!(gemini::parse_response(&json!({})).is_err());
}

/// Vertex AI serves Gemini models in Gemini's format (the fixtures above) and Claude models in
/// Anthropic's, with the model in the path and Vertex's `anthropic_version` in the body.
#[test]
fn openai_request_to_vertex_claude() {
    let req = openai_chat::parse_request(&openai_request()).expect("parse");
    let body =
        crate::ai::providers::vertex::anthropic_body(anthropic::build_request(&req, "claude-sonnet-4-5@20250929"));
    assert!(body.get("model").is_none(), "{body}");
    assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(body["stream"], true);
    golden("openai_request_to_vertex_claude.json", &pretty(&body));
}
