//! Gateway API hostname rules: wildcard matching (`*.example.com` covers one or more labels),
//! intersection of route and listener hostnames, and ordering by specificity.

use std::cmp::Ordering;

/// Whether `host` (lower-case, without port) is covered by `pattern`.
pub fn matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && ends_with_ignore_case(host, suffix),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// The hostname both a route hostname and a listener hostname accept, if any.
/// `None` for the listener means "any host".
pub fn intersect(route: &str, listener: Option<&str>) -> Option<String> {
    let Some(listener) = listener else {
        return Some(route.to_ascii_lowercase());
    };
    let route_wild = route.starts_with('*');
    let listener_wild = listener.starts_with('*');
    let winner = match (route_wild, listener_wild) {
        (false, false) => route.eq_ignore_ascii_case(listener).then_some(route),
        (false, true) => matches(listener, route).then_some(route),
        (true, false) => matches(route, listener).then_some(listener),
        (true, true) => {
            if matches(listener, route[1..].trim_start_matches('.')) || route.eq_ignore_ascii_case(listener) {
                Some(route)
            } else if matches(route, listener[1..].trim_start_matches('.')) {
                Some(listener)
            } else {
                None
            }
        }
    };
    winner.map(str::to_ascii_lowercase)
}

/// Orders hostname patterns from the most specific to the least: exact names first, then
/// wildcards by decreasing length; `None` (any host) last.
pub fn specificity(a: Option<&str>, b: Option<&str>) -> Ordering {
    fn rank(h: Option<&str>) -> (u8, usize) {
        match h {
            Some(h) if !h.starts_with('*') => (0, usize::MAX - h.len()),
            Some(h) => (1, usize::MAX - h.len()),
            None => (2, 0),
        }
    }
    rank(a).cmp(&rank(b))
}

/// The host part of a Host header or `:authority` (without port, lower-case).
pub fn host_without_port(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { authority })
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_one_or_more_labels() {
        assert!(matches("*.example.com", "a.example.com"));
        assert!(matches("*.example.com", "a.b.example.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(matches("Foo.com", "foo.com"));
    }

    #[test]
    fn intersections() {
        assert_eq!(intersect("a.example.com", Some("*.example.com")).as_deref(), Some("a.example.com"));
        assert_eq!(intersect("*.example.com", Some("a.example.com")).as_deref(), Some("a.example.com"));
        assert_eq!(intersect("*.a.example.com", Some("*.example.com")).as_deref(), Some("*.a.example.com"));
        assert_eq!(intersect("*.example.com", Some("*.a.example.com")).as_deref(), Some("*.a.example.com"));
        assert_eq!(intersect("*.example.com", Some("*.example.com")).as_deref(), Some("*.example.com"));
        assert_eq!(intersect("b.org", Some("a.org")), None);
        assert_eq!(intersect("*.org", None).as_deref(), Some("*.org"));
    }

    #[test]
    fn host_port_stripping() {
        assert_eq!(host_without_port("Foo.com:8080"), "foo.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("example.com"), "example.com");
    }
}
