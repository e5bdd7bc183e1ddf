//! Small re-implementations of the Go standard-library parsers whose behaviour the echo backend
//! exposes: `time.ParseDuration`, `url.ParseQuery` (first value of a key), URL unescaping, and the
//! path cleaning `http.ServeMux` applies before routing.

use std::time::Duration;

/// Parses a Go duration string (`1s`, `500ms`, `1.5s`, `100us`, `1h2m`, `-3s`, `0`).
///
/// Errors carry Go's message text, e.g. `time: invalid duration "abc"`. A negative duration is
/// returned as zero, which is what sleeping for it amounts to.
pub fn parse_duration(orig: &str) -> Result<Duration, String> {
    const LIMIT: u128 = 1 << 63;
    let invalid = || format!("time: invalid duration {orig:?}");
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: u128 = 0;
        for b in s[..int_len].bytes() {
            value = value * 10 + u128::from(b - b'0');
            if value > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        let (mut frac, mut scale, mut frac_len) = (0u128, 1f64, 0);
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            for b in rest[..frac_len].bytes() {
                // Like Go, stop accumulating (but keep consuming) once precision runs out.
                if frac < LIMIT / 10 {
                    frac = frac * 10 + u128::from(b - b'0');
                    scale *= 10.0;
                }
            }
            s = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let unit_name = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u128 = match unit_name {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!("time: unknown unit {unit_name:?} in duration {orig:?}"));
            }
        };
        value = value.checked_mul(unit).filter(|v| *v <= LIMIT).ok_or_else(invalid)?;
        if frac > 0 {
            value += (frac as f64 * (unit as f64 / scale)) as u128;
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(Duration::ZERO);
    }
    if total >= LIMIT {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// The first value of `key` in a raw query or urlencoded form body, as Go's `url.ParseQuery`
/// followed by `Get` sees it: pairs split on `&`, pairs containing `;` or bad escapes skipped,
/// `+` decoded as a space.
pub fn query_value(raw: &str, key: &str) -> Option<String> {
    raw.split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(k, true)?, unescape(v, true)?))
        })
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Percent-decodes `s` (and `+` to space when `plus_is_space`); `None` on a malformed escape.
pub fn unescape(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
                continue;
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `http.ServeMux` path cleaning: `path.Clean` on a rooted path, keeping a trailing slash.
pub fn clean_path(p: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut cleaned = format!("/{}", segments.join("/"));
    if p.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// Escapes a path the way Go's `url.URL.EscapedPath` does for a path without a raw form.
pub fn escape_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
