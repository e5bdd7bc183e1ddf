//! JSON output byte-compatible with Go's `encoding/json` as echo-basic uses it:
//! `json.MarshalIndent(v, "", " ")` for the echo body and `json.Marshal` for error bodies.

/// A JSON value with ordered object members (Go writes struct fields in declaration order and
/// map keys sorted; callers supply members in the order they must appear).
pub enum Json {
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Self {
        Json::Str(s.into())
    }

    /// Renders like `json.MarshalIndent(v, "", " ")`.
    pub fn to_indented(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(members) if members.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    newline(out, depth + 1, i > 0);
                    item.write(out, depth + 1);
                }
                newline(out, depth, false);
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    newline(out, depth + 1, i > 0);
                    write_str(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                newline(out, depth, false);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, depth: usize, after_item: bool) {
    if after_item {
        out.push(',');
    }
    out.push('\n');
    out.push_str(&" ".repeat(depth));
}

/// `{"message":"..."}` as `json.Marshal` writes it.
pub fn message_body(message: &str) -> String {
    let mut out = String::from("{\"message\":");
    write_str(&mut out, message);
    out.push('}');
    out
}

/// A JSON string literal with Go's escaping (HTML-safe: `<`, `>`, `&`, U+2028 and U+2029 too).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for a valid token: upper-case the first letter and
/// every letter after `-`, lower-case the rest.
pub fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let mapped = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            mapped
        })
        .collect()
}
