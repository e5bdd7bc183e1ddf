//! The Gemini front door's codecs: a Gemini client's request read into the canonical model and
//! written for other providers (golden fixtures), answers and streams written back as Gemini
//! clients read them.

use serde_json::{Value, json};

use super::tests::{golden, pretty};
use super::{anthropic, anthropic_stream, gemini, gemini_client, gemini_client_stream, openai_chat};
use crate::ai::canonical::*;

/// What the google-genai SDKs send for a tool loop with thinking: camelCase, calls without
/// ids answered by name, thought parts in pieces, a signature on the call.
fn genai_request() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and the time in Rome?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "model", "parts": [
                {"text": "The user wants ", "thought": true},
                {"text": "two tools.", "thought": true},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLXBhcmlz"},
                {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_time", "response": {"output": "14:05"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18, "sky": "cloudy"}}}
            ]},
            {"parts": [{"text": "Summarise."}]}
        ],
        "tools": [
            {"functionDeclarations": [
                {"name": "get_weather", "description": "Current weather",
                 "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": true}}, "required": ["city"]}},
                {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}
            ]},
            {"googleSearch": {}}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"maxOutputTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true}}
    })
}

#[test]
fn a_genai_request_reads_into_the_canonical_model() {
    let req = gemini_client::parse_request(&genai_request(), "models/gemini-2.5-flash", true).expect("parse");
    assert_eq!(req.model, "gemini-2.5-flash");
    assert!(req.stream && req.stream_usage);
    assert_eq!(req.system, vec!["You are terse."]);
    assert_eq!(req.messages.len(), 4);
    // The thought pieces are one block, and the call's signature is an empty thinking part
    // before the call, as the provider direction reads Gemini's answers.
    assert_eq!(
        req.messages[1].parts,
        vec![
            Part::Thinking { text: "The user wants two tools.".into(), signature: None },
            Part::Thinking { text: String::new(), signature: Some("c2lnLXBhcmlz".into()) },
            Part::ToolCall { id: "call_0".into(), name: "get_weather".into(), arguments: r#"{"city":"Paris"}"#.into() },
            Part::ToolCall { id: "call_1".into(), name: "get_time".into(), arguments: r#"{"city":"Rome"}"#.into() },
        ]
    );
    // Responses without ids answer the earliest unanswered call of their name.
    let ids: Vec<&str> = req.messages[2]
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["call_1", "call_0"]);
    assert_eq!(
        req.messages[2].parts[0],
        Part::ToolResult { id: "call_1".into(), content: vec![Part::Text("14:05".into())], is_error: false }
    );
    assert_eq!(req.tools.len(), 2, "the built-in googleSearch tool is dropped");
    assert_eq!(req.tools[0].parameters["properties"]["city"]["type"], json!(["string", "null"]));
    assert_eq!(req.tools[0].parameters["type"], "object");
    assert_eq!(req.tool_choice, Some(ToolChoice::Named("get_weather".into())));
    assert_eq!(req.max_tokens, Some(300));
    assert_eq!(req.stop, vec!["END"]);
    assert_eq!(req.reasoning, Some(Reasoning { effort: None, budget_tokens: Some(2048) }));
}

#[test]
fn a_genai_request_translates_for_every_provider() {
    let req = gemini_client::parse_request(&genai_request(), "gemini-2.5-flash", false).expect("parse");
    golden("gemini_client_request_to_anthropic.json", &pretty(&anthropic::build_request(&req, "claude-sonnet-4-5")));
    golden("gemini_client_request_to_openai.json", &pretty(&openai_chat::build_request(&req, "gpt-4o")));
    // Back to Gemini: the same turns, ids Sluice made up left out, the signature on its call.
    let again = gemini::build_request(&req);
    assert_eq!(
        again["contents"][1]["parts"][1]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
    assert_eq!(again["contents"][1]["parts"][1]["thoughtSignature"], "c2lnLXBhcmlz");
    assert_eq!(again["contents"][1]["parts"][2]["functionCall"], json!({"name": "get_time", "args": {"city": "Rome"}}));
    assert_eq!(again["contents"][2]["parts"][0]["functionResponse"]["name"], "get_time");
}

#[test]
fn snake_case_fields_are_read_as_google_accepts_them() {
    let body = json!({
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generation_config": {"max_output_tokens": 5, "response_mime_type": "application/json",
            "response_schema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}}
    });
    let req = gemini_client::parse_request(&body, "g", false).expect("parse");
    assert_eq!(req.system, vec!["Be brief."]);
    assert_eq!(req.max_tokens, Some(5));
    match req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => assert_eq!(schema["properties"]["a"]["type"], "integer"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_gemini_requests_name_the_field() {
    let e = gemini_client::parse_request(&json!({"contents": []}), "g", false).expect_err("empty");
    assert_eq!(e.param.as_deref(), Some("contents"));
    let e =
        gemini_client::parse_request(&json!({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}), "g", false)
            .expect_err("role");
    assert!(e.message.contains("robot"), "{}", e.message);
    let e = gemini_client::parse_request(&json!({"contents": [{"role": "user"}]}), "g", false).expect_err("parts");
    assert_eq!(e.param.as_deref(), Some("contents[0].parts"));
    let e = gemini_client::parse_request(
        &json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 2}}),
        "g",
        false,
    )
    .expect_err("candidates");
    assert!(e.message.contains("candidateCount"), "{}", e.message);
    let e = gemini_client::parse_request(&json!({"contents": {"parts": []}}), "g", false).expect_err("not a list");
    assert_eq!(e.param.as_deref(), Some("contents"));
}

#[test]
fn an_anthropic_answer_renders_for_a_gemini_client() {
    let r = anthropic::parse_response(&json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Check Paris.", "signature": "EqQBsig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 15, "cache_read_input_tokens": 5}
    }))
    .expect("parse");
    let out = gemini_client::render_response(&r, "claude-sonnet-4-5");
    assert_eq!(out["candidates"][0]["finishReason"], "STOP");
    assert_eq!(out["usageMetadata"]["promptTokenCount"], 25);
    assert_eq!(out["usageMetadata"]["cachedContentTokenCount"], 5);
    golden("anthropic_response_to_gemini_client.json", &pretty(&out));
    // What the client sends back reads into the same thinking, signature and call.
    let turn =
        json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}, out["candidates"][0]["content"].clone()]});
    let back = gemini_client::parse_request(&turn, "m", false).expect("parse");
    assert_eq!(back.messages[1].parts, r.parts);
}

/// Anthropic stream events, as canonical events through the Gemini client encoder.
fn anthropic_events() -> Vec<StreamEvent> {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Paris."}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBsig"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Let me check."}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 2})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 25}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let mut dec = anthropic_stream::Decoder::default();
    let mut evs = Vec::new();
    for (name, data) in &events {
        dec.decode(name, &data.to_string(), &mut evs);
    }
    evs
}

#[test]
fn an_anthropic_stream_encodes_for_a_gemini_client() {
    let mut enc = gemini_client_stream::Encoder::new("claude", true);
    let mut out = String::new();
    anthropic_events().iter().for_each(|e| enc.encode(e, &mut out));
    golden("anthropic_stream_to_gemini_client.sse", &out);
    // Every event is one whole GenerateContentResponse; the call arrives whole.
    let chunks: Vec<Value> =
        out.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).expect("json")).collect();
    let call = chunks.iter().find_map(|c| c.pointer("/candidates/0/content/parts/0/functionCall")).expect("call");
    assert_eq!(call["args"], json!({"city": "Paris"}));
    let last = chunks.last().expect("chunks");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 25);
    // Read back as a Gemini provider's stream, the answer is the same.
    let mut dec = super::gemini_stream::Decoder::default();
    let mut evs = Vec::new();
    for c in &chunks {
        dec.decode(&c.to_string(), &mut evs);
    }
    dec.finish(&mut evs);
    let text: String =
        evs.iter().filter_map(|e| if let StreamEvent::TextDelta(t) = e { Some(t.as_str()) } else { None }).collect();
    assert_eq!(text, "Let me check.");
    assert!(evs.contains(&StreamEvent::SignatureDelta("EqQBsig".into())));
    assert!(evs.contains(&StreamEvent::Stop(StopReason::ToolUse)));
}

#[test]
fn a_stream_without_alt_sse_is_one_json_array() {
    let mut enc = gemini_client_stream::Encoder::new("claude", false);
    let mut out = String::new();
    anthropic_events().iter().for_each(|e| enc.encode(e, &mut out));
    let v: Value = serde_json::from_str(&out).expect("one JSON array");
    let chunks = v.as_array().expect("array");
    assert!(chunks.len() >= 4, "{out}");
    assert_eq!(chunks.last().unwrap()["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn errors_are_google_shaped() {
    use crate::ai::errors::AiError;
    use crate::ai::frontdoor::ClientFormat;
    let mut e = AiError::new(crate::ai::errors::ErrorKind::RateLimit, http::StatusCode::TOO_MANY_REQUESTS, "slow down");
    e.retry_after = Some(std::time::Duration::from_millis(2500));
    assert_eq!(
        e.body(ClientFormat::Gemini),
        json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]}})
    );
    let e = AiError::not_found("no such model");
    assert_eq!(e.body(ClientFormat::Gemini)["error"]["status"], "NOT_FOUND");
}
