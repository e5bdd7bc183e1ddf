//! OpenAI embeddings requests served by Gemini's `batchEmbedContents`: one request per input
//! text, answered by one embedding each, in order. Gemini reports no token usage for
//! embeddings, so the OpenAI `usage` figures are Sluice's estimate (and the response says so in
//! `x-sluice-token-estimate: true`).

use base64::Engine as _;
use serde_json::{Value, json};

use crate::ai::errors::AiError;

/// The path for `model`, relative to the Gemini base URL.
pub fn path(model: &str) -> String {
    super::super::providers::gemini::path(Some("/models/{model}:batchEmbedContents"), model, false)
}

/// The input texts of an OpenAI embeddings request: a string or an array of strings. Token-id
/// inputs (arrays of integers) have no Gemini equivalent and are refused.
pub fn inputs(raw: &Value) -> Result<Vec<String>, AiError> {
    let bad = || {
        AiError::invalid_param("input", "Gemini embeddings take text: a string or an array of strings, not token ids")
    };
    match raw.get("input") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(bad)).collect()
        }
        Some(_) => Err(bad()),
        None => Err(AiError::invalid_param("input", "you must provide an input parameter")),
    }
}

/// The `batchEmbedContents` body.
pub fn build_request(model: &str, texts: &[String], raw: &Value) -> Value {
    let name = format!("models/{}", model.strip_prefix("models/").unwrap_or(model));
    let dims = raw.get("dimensions").and_then(Value::as_u64);
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut r = json!({"model": name, "content": {"parts": [{"text": t}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    json!({"requests": requests})
}

/// The OpenAI answer: `float` vectors, or `base64` (little-endian f32, as OpenAI encodes them).
pub fn render_response(v: &Value, model: &str, base64: bool, prompt_tokens: u64) -> Result<Value, AiError> {
    let embeddings = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::upstream("the provider's embeddings answer has no `embeddings`"))?;
    let mut data = Vec::with_capacity(embeddings.len());
    for (index, e) in embeddings.iter().enumerate() {
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| AiError::upstream(format!("the provider's embedding {index} has no `values`")))?;
        let embedding = if base64 {
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for x in values {
                bytes.extend_from_slice(&(x.as_f64().unwrap_or(0.0) as f32).to_le_bytes());
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            Value::Array(values.clone())
        };
        data.push(json!({"object": "embedding", "index": index, "embedding": embedding}));
    }
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_translate() {
        let raw = json!({"model": "gemini-embedding-001", "input": ["alpha", "beta"], "dimensions": 3});
        let texts = inputs(&raw).expect("texts");
        let body = build_request("gemini-embedding-001", &texts, &raw);
        super::super::tests::golden("openai_embeddings_to_gemini.json", &super::super::tests::pretty(&body));
        assert_eq!(path("gemini-embedding-001"), "/models/gemini-embedding-001:batchEmbedContents");
        let answer = json!({"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1.0, 0.0, -0.5]}]});
        let out = render_response(&answer, "gemini-embedding-001", false, 2).expect("render");
        super::super::tests::golden("gemini_embeddings_to_openai.json", &super::super::tests::pretty(&out));
        let b64 = render_response(&answer, "gemini-embedding-001", true, 2).expect("render");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64["data"][0]["embedding"].as_str().expect("base64"))
            .expect("decode");
        assert_eq!(bytes, [0.5f32.to_le_bytes(), (-1.0f32).to_le_bytes(), 0.25f32.to_le_bytes()].concat());
        assert!(inputs(&json!({"input": [1, 2, 3]})).is_err(), "token ids");
    }
}
