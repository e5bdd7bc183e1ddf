//! RequestHeaderModifier and ResponseHeaderModifier: set, add (comma-joined onto an existing
//! value, as the Gateway API says), then remove.

use http::{HeaderMap, HeaderValue};

use crate::ir::filter::HeaderModifier;

pub fn apply(m: &HeaderModifier, headers: &mut HeaderMap) {
    for (name, value) in &m.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &m.add {
        match headers.get_mut(name) {
            // Gateway API "add" appends to the existing value, comma-separated.
            Some(existing) => {
                let mut joined = existing.as_bytes().to_vec();
                joined.push(b',');
                joined.extend_from_slice(value.as_bytes());
                if let Ok(v) = HeaderValue::from_bytes(&joined) {
                    *existing = v;
                }
            }
            None => {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    for name in &m.remove {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    fn modifier(
        set: &[(&'static str, &'static str)],
        add: &[(&'static str, &'static str)],
        remove: &[&'static str],
    ) -> HeaderModifier {
        let pair =
            |(n, v): &(&'static str, &'static str)| (http::HeaderName::from_static(n), HeaderValue::from_static(v));
        HeaderModifier {
            set: set.iter().map(pair).collect(),
            add: add.iter().map(pair).collect(),
            remove: remove.iter().map(|n| http::HeaderName::from_static(n)).collect(),
        }
    }

    #[test]
    fn set_add_and_remove_as_the_gateway_api_says() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(&str, Pairs, HeaderModifier, Pairs); 5] = [
            ("set replaces", &[("x-a", "1")], modifier(&[("x-a", "2")], &[], &[]), &[("x-a", "2")]),
            ("set adds a missing header", &[], modifier(&[("x-a", "2")], &[], &[]), &[("x-a", "2")]),
            (
                "add joins onto an existing value",
                &[("x-a", "1")],
                modifier(&[], &[("x-a", "2")], &[]),
                &[("x-a", "1,2")],
            ),
            ("add creates a missing header", &[], modifier(&[], &[("x-b", "v")], &[]), &[("x-b", "v")]),
            (
                "remove comes last",
                &[("x-a", "1"), ("x-c", "3")],
                modifier(&[("x-a", "9")], &[], &["x-a"]),
                &[("x-c", "3")],
            ),
        ];
        for (name, before, m, after) in cases {
            let mut h = headers(before);
            apply(&m, &mut h);
            assert_eq!(h, headers(after), "{name}");
        }
    }
}
