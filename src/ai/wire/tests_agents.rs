//! What real agents send, translated: Claude Code's system messages inside `messages`,
//! content blocks other formats cannot carry, cache-control markers, and thinking that must
//! survive a tool loop with its signature (chat completions' `thinking_blocks`, Responses'
//! `encrypted_content`). Golden fixtures in `golden/agent_*`.

use serde_json::{Value, json};

use super::tests::{golden, pretty};
use super::{anthropic, bedrock, gemini, openai_chat, openai_responses};
use crate::ai::canonical::{ChatResponse, Part, StopReason};

/// A request of the shape Claude Code sends: a system reminder between turns, cache-control
/// markers, a block type other formats have no place for, thinking on in a tool loop.
fn claude_code_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 8000,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List the files.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "<system-reminder>The user is on Linux.</system-reminder>"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I will run ls.", "signature": "EqQBCkYIBRgCKkB"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]},
                {"type": "server_tool_novelty", "payload": {"x": 1}}
            ]}
        ],
        "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "stream": true
    })
}

#[test]
fn claude_code_requests_translate_to_every_format() {
    let req =
        anthropic::parse_request(&claude_code_request()).expect("system messages and unknown blocks are accepted");
    let openai = openai_chat::build_request(&req, "gpt-4o");
    assert_eq!(openai["messages"][2]["role"], "system", "in place where the format allows: {openai}");
    golden("agent_claude_code_to_openai.json", &pretty(&openai));
    let g = gemini::build_request(&req);
    assert!(g["systemInstruction"]["parts"][1]["text"].as_str().is_some_and(|t| t.contains("on Linux")), "{g}");
    golden("agent_claude_code_to_gemini.json", &pretty(&g));
    let b = bedrock::build_request(&req, "anthropic.claude-sonnet-4-5-v1:0").expect("bedrock");
    golden("agent_claude_code_to_bedrock.json", &pretty(&b));
}

#[test]
fn a_claude_code_request_to_anthropic_keeps_its_signed_thinking() {
    // As an OpenAI client would send the same turn back (chat completions' thinking_blocks).
    let req = anthropic::parse_request(&claude_code_request()).expect("parse");
    let a = anthropic::build_request(&req, "claude-sonnet-4-5");
    assert_eq!(a["thinking"]["type"], "enabled", "{a}");
    assert_eq!(a["messages"][1]["content"][0]["signature"], "EqQBCkYIBRgCKkB");
    assert!(a["system"].as_str().is_some_and(|s| s.contains("on Linux")), "hoisted: {a}");
}

/// An OpenAI-format tool loop with thinking, as agent frameworks send it back.
fn openai_tool_loop(thinking_blocks: Option<Value>) -> Value {
    let mut assistant = json!({
        "role": "assistant", "content": null, "reasoning_content": "I will check the weather.",
        "tool_calls": [{"id": "toolu_7", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
    });
    if let Some(b) = thinking_blocks {
        assistant["thinking_blocks"] = b;
    }
    json!({
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "medium",
        "max_tokens": 16000,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            assistant,
            {"role": "tool", "tool_call_id": "toolu_7", "content": "18C"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    })
}

#[test]
fn thinking_blocks_carry_the_signature_through_chat_completions() {
    // Sent back whole, or as streamed (the text in reasoning_content, the signature in a block).
    for blocks in [
        json!([{"type": "thinking", "thinking": "I will check the weather.", "signature": "sig-A"}]),
        json!([{"type": "thinking", "thinking": "", "signature": "sig-A"}]),
    ] {
        let req = openai_chat::parse_request(&openai_tool_loop(Some(blocks))).expect("parse");
        let a = anthropic::build_request(&req, "claude-sonnet-4-5");
        assert_eq!(a["thinking"]["budget_tokens"], 8192, "{a}");
        assert_eq!(
            a["messages"][1]["content"][0],
            json!({"type": "thinking", "thinking": "I will check the weather.", "signature": "sig-A"})
        );
    }
    let req = openai_chat::parse_request(&openai_tool_loop(Some(json!([{
        "type": "thinking", "thinking": "I will check the weather.", "signature": "sig-A"
    }]))))
    .expect("parse");
    golden("agent_openai_tool_loop_to_anthropic.json", &pretty(&anthropic::build_request(&req, "claude-sonnet-4-5")));
}

#[test]
fn an_unsigned_tool_turn_turns_thinking_off_instead_of_sending_an_empty_signature() {
    let req = openai_chat::parse_request(&openai_tool_loop(None)).expect("parse");
    let a = anthropic::build_request(&req, "claude-sonnet-4-5");
    assert!(a.get("thinking").is_none(), "{a}");
    assert!(!a.to_string().contains("\"signature\":\"\""), "never an empty signature: {a}");
    assert_eq!(a["messages"][1]["content"][0]["type"], "tool_use", "the unsigned thinking is left out: {a}");
}

#[test]
fn answers_give_the_signature_back_in_the_clients_format() {
    let r = ChatResponse {
        id: "msg_1".into(),
        model: "claude-sonnet-4-5".into(),
        parts: vec![
            Part::Thinking { text: "Check.".into(), signature: Some("sig-B".into()) },
            Part::ToolCall { id: "toolu_2".into(), name: "weather".into(), arguments: "{}".into() },
        ],
        stop: Some(StopReason::ToolUse),
        usage: None,
    };
    let chat = openai_chat::render_response(&r, 1);
    assert_eq!(
        chat["choices"][0]["message"]["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "Check.", "signature": "sig-B"}])
    );
    let resp = openai_responses::render_response(&r, 1, &json!({"model": "claude-sonnet-4-5"}));
    let item = &resp["output"][0];
    assert_eq!((item["type"].as_str(), item["encrypted_content"].as_str()), (Some("reasoning"), Some("sig-B")));
    // And a Responses client sending the items back gets them to Anthropic signed.
    let next = json!({
        "model": "claude-sonnet-4-5",
        "reasoning": {"effort": "low"},
        "max_output_tokens": 4000,
        "input": [
            {"role": "user", "content": "Weather?"},
            item,
            resp["output"][1],
            {"type": "function_call_output", "call_id": "toolu_2", "output": "18C"}
        ]
    });
    let req = openai_responses::parse_request(&next).expect("parse");
    let a = anthropic::build_request(&req, "claude-sonnet-4-5");
    assert_eq!(a["thinking"]["type"], "enabled", "{a}");
    assert_eq!(a["messages"][1]["content"][0]["signature"], "sig-B", "{a}");
    golden("agent_responses_reasoning_to_anthropic.json", &pretty(&a));
}
