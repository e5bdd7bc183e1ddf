//! Top-level members of a JSON object edited in its bytes: a same-format request keeps the
//! client's body as sent (order, spacing, numbers and unknown fields) but for the members the
//! gateway must change (`model`, `stream_options`), without a JSON tree built and written again.
//!
//! The body was already read as valid JSON (the request's typed parse): the scan below only
//! finds where each top-level member's key and value lie. Anything unexpected gives `None`,
//! and the caller edits a tree instead.

use std::borrow::Cow;
use std::ops::Range;

/// One top-level member: its key (decoded; borrowed unless it has escapes) and its value's bytes.
struct Member<'b> {
    key: Cow<'b, str>,
    value: Range<usize>,
}

/// The top-level members of an object, and where its closing brace is.
fn members(body: &[u8]) -> Option<(Vec<Member<'_>>, usize)> {
    let mut i = skip_ws(body, 0);
    if body.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(body, i + 1);
    let mut out = Vec::new();
    if body.get(i) == Some(&b'}') {
        return Some((out, i));
    }
    loop {
        let key_end = string_end(body, i)?;
        let raw_key = &body[i..key_end];
        let key = match raw_key.contains(&b'\\') {
            false => Cow::Borrowed(std::str::from_utf8(&raw_key[1..raw_key.len() - 1]).ok()?),
            true => Cow::Owned(serde_json::from_slice::<String>(raw_key).ok()?),
        };
        i = skip_ws(body, key_end);
        if body.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(body, i + 1);
        let end = value_end(body, start)?;
        out.push(Member { key, value: start..end });
        i = skip_ws(body, end);
        match body.get(i) {
            Some(b',') => i = skip_ws(body, i + 1),
            Some(b'}') => return Some((out, i)),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string that starts at `i` (its opening quote).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The index just past the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The value of the top-level member `key` (the last, when the key repeats), as sent.
pub fn member<'b>(body: &'b [u8], key: &str) -> Option<&'b [u8]> {
    let (ms, _) = members(body)?;
    ms.iter().rev().find(|m| m.key == key).map(|m| &body[m.value.clone()])
}

/// The body with each top-level member in `set` given its new value (JSON text), every
/// occurrence of a repeated key alike; members the body lacks are added at its end.
pub fn set_members(body: &[u8], set: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let (ms, close) = members(body)?;
    let extra: usize = set.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(body.len() + extra);
    let mut at = 0;
    for m in &ms {
        if let Some((_, v)) = set.iter().find(|(k, _)| *k == m.key) {
            out.extend_from_slice(&body[at..m.value.start]);
            out.extend_from_slice(v);
            at = m.value.end;
        }
    }
    out.extend_from_slice(&body[at..close]);
    let mut any = !ms.is_empty();
    for (k, v) in set.iter().filter(|(k, _)| !ms.iter().any(|m| m.key == *k)) {
        if any {
            out.push(b',');
        }
        out.extend_from_slice(serde_json::to_string(k).ok()?.as_bytes());
        out.push(b':');
        out.extend_from_slice(v);
        any = true;
    }
    out.extend_from_slice(&body[close..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn set(body: &str, edits: &[(&str, &str)]) -> String {
        let edits: Vec<(&str, &[u8])> = edits.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        String::from_utf8(set_members(body.as_bytes(), &edits).expect("an object")).unwrap()
    }

    #[test]
    fn a_member_is_replaced_in_place_and_the_rest_kept_as_sent() {
        let body = r#" { "model" : "gpt-4o", "messages":[{"role":"user","content":"a \"}\" b"}], "n": 1.50 } "#;
        let out = set(body, &[("model", r#""gpt-4o-2024""#)]);
        assert_eq!(
            out,
            r#" { "model" : "gpt-4o-2024", "messages":[{"role":"user","content":"a \"}\" b"}], "n": 1.50 } "#
        );
    }

    #[test]
    fn missing_members_are_added_at_the_end() {
        assert_eq!(set("{}", &[("model", "\"m\"")]), r#"{"model":"m"}"#);
        assert_eq!(
            set(r#"{"a":[1,{"b":null}]}"#, &[("model", "\"m\""), ("stream_options", r#"{"include_usage":true}"#)]),
            r#"{"a":[1,{"b":null}],"model":"m","stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn repeated_and_escaped_keys_are_all_set() {
        let out = set(r#"{"model":"a","mod\u0065l":"b","x":true}"#, &[("model", "\"c\"")]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"model": "c", "x": true}));
        assert_eq!(out.matches("\"c\"").count(), 2);
    }

    #[test]
    fn a_member_is_read_as_sent_the_last_when_repeated() {
        let body = br#"{"stream_options":{"x":1},"stream":true,"stream_options":{"include_usage":false}}"#;
        assert_eq!(member(body, "stream_options"), Some(&br#"{"include_usage":false}"#[..]));
        assert_eq!(member(body, "stream"), Some(&b"true"[..]));
        assert_eq!(member(body, "model"), None);
    }

    #[test]
    fn what_is_not_an_object_is_refused() {
        for body in ["[1]", "\"s\"", "{\"a\" 1}", "{\"a\":1", "", "{\"a\":}"] {
            assert!(set_members(body.as_bytes(), &[("model", b"\"m\"")]).is_none(), "{body}");
        }
    }

    #[test]
    fn the_edit_agrees_with_a_tree_edit_on_any_object() {
        let bodies = [
            r#"{"model":"x","messages":[],"temperature":0.2,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#,
            "{\n  \"messages\": [ {\"role\": \"user\", \"content\": \"\\\\\"} ],\n  \"model\": \"x\"\n}\n",
            r#"{"model":null,"unknown":{"deep":[[[{}]]]},"e":-1.5e-3,"u":"\u00e9\ud83d\ude00"}"#,
        ];
        for body in bodies {
            let out = set(body, &[("model", r#""new""#)]);
            let mut want: Value = serde_json::from_str(body).unwrap();
            want["model"] = json!("new");
            assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), want, "{body}");
        }
    }
}
