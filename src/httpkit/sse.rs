//! Server-sent events framing (the WHATWG `text/event-stream` format): the one writer of
//! `event:`, `id:` and `data:` lines on the data path.

use bytes::Bytes;

/// Appends one event to `out`: an optional `id:` and `event:` line, then `data` with each of its
/// lines on a `data:` line of its own (so data holding newlines survives), then the blank line
/// that ends the event.
pub fn write(out: &mut String, event: Option<&str>, id: Option<&str>, data: &str) {
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
}

/// One event as a string.
pub fn event_string(event: Option<&str>, id: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    write(&mut out, event, id, data);
    out
}

/// One event as bytes, for the streams that send events one at a time.
pub fn event(event: Option<&str>, id: Option<&str>, data: &str) -> Bytes {
    Bytes::from(event_string(event, id, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_as_the_format_says() {
        let cases: [(Option<&str>, Option<&str>, &str, &str); 4] = [
            (None, None, "[DONE]", "data: [DONE]\n\n"),
            (Some("message"), None, "{}", "event: message\ndata: {}\n\n"),
            (Some("message"), Some("7"), "{}", "id: 7\nevent: message\ndata: {}\n\n"),
            (None, None, "a\nb\r\nc", "data: a\ndata: b\ndata: c\n\n"),
        ];
        for (name, id, data, want) in cases {
            assert_eq!(String::from_utf8_lossy(&event(name, id, data)), want, "{name:?} {id:?} {data:?}");
        }
    }
}
