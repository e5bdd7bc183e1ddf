//! Conversation turns for providers that want roles to alternate (Gemini, Bedrock): a turn of
//! the same role as the last one is merged into it.

use serde_json::{Value, json};

/// Appends `{"role": role, key: items}`, or adds `items` to the last turn when it has the same
/// role.
pub fn push(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    match turns.last_mut() {
        Some(last) if last["role"] == role => {
            if let Some(existing) = last[key].as_array_mut() {
                existing.extend(items);
            }
        }
        _ => turns.push(json!({"role": role, key: items})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_of_one_role_merge() {
        let mut turns = Vec::new();
        push(&mut turns, "user", "parts", vec![json!({"text": "a"})]);
        push(&mut turns, "user", "parts", vec![json!({"text": "b"})]);
        push(&mut turns, "model", "parts", vec![json!({"text": "c"})]);
        assert_eq!(
            Value::Array(turns),
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}]},
            ])
        );
    }
}
