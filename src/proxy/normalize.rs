//! Request paths as routes match them (RFC 3986 §5.2.4, as the Gateway API asks): dot segments
//! removed, percent-encoded dots (`%2e`) counted as dots, so `/public/../admin` and
//! `/public/%2e%2e/admin` are `/admin` both for matching and for the backend. Repeated slashes
//! are kept, and so are encoded slashes (`%2F` is part of a segment, never a separator).

/// The normalized path, when it differs from `path` (no query).
pub fn path(path: &str) -> Option<String> {
    if !path.contains("/.") && !path.contains('%') {
        return None;
    }
    let dotted = path.split('/').any(|seg| matches!(decode_dots(seg).as_deref(), Some(".") | Some("..")));
    if !dotted {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match decode_dots(seg).as_deref() {
            Some(".") => {
                if i == last {
                    out.push("");
                }
            }
            Some("..") => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            _ => out.push(seg),
        }
    }
    Some(format!("/{}", out.join("/")))
}

/// The segment with `%2e`/`%2E` read as dots, when it could be a dot segment.
fn decode_dots(seg: &str) -> Option<String> {
    if seg.len() > 6 || !seg.bytes().all(|b| b == b'.' || b == b'%' || b == b'2' || b == b'e' || b == b'E') {
        return None;
    }
    Some(seg.replace("%2e", ".").replace("%2E", "."))
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn dot_segments_are_removed_encoded_or_not() {
        let cases = [
            ("/public/../admin", Some("/admin")),
            ("/public/%2e%2e/admin", Some("/admin")),
            ("/public/%2E%2e/admin/", Some("/admin/")),
            ("/a/./b", Some("/a/b")),
            ("/a/b/..", Some("/a/")),
            ("/a/b/.", Some("/a/b/")),
            ("/../../etc", Some("/etc")),
            ("/a/..b/c", None),
            ("/a/.well-known/x", None),
            ("/a//b", None),
            ("/a/%2F../b", None),
            ("/", None),
        ];
        for (input, want) in cases {
            assert_eq!(path(input).as_deref(), want, "{input}");
        }
    }
}
