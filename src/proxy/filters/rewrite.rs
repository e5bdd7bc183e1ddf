//! URL rewriting (URLRewrite filter) and the path logic shared with redirects.

use crate::ir::filter::PathModifier;
use crate::ir::route::PathMatch;

/// The new path for a request path under a path modifier.
pub fn apply_path(m: &PathModifier, matched: &PathMatch, path: &str) -> String {
    match m {
        PathModifier::Full(p) => p.clone(),
        PathModifier::Prefix(replacement) => {
            let prefix = match matched {
                PathMatch::Prefix(p) => p.as_str(),
                // Validation only allows ReplacePrefixMatch with a PathPrefix match.
                PathMatch::Exact(_) | PathMatch::Regex(_) => "",
            };
            let rest = path.get(prefix.len()..).unwrap_or("");
            let base = replacement.trim_end_matches('/');
            let joined = if rest.is_empty() || rest.starts_with('/') {
                format!("{base}{rest}")
            } else {
                format!("{base}/{rest}")
            };
            if joined.is_empty() { "/".to_string() } else { joined }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_paths_replace_whatever_matched() {
        let cases = [
            (PathMatch::Prefix("/a".into()), "/a/b", "/x"),
            (PathMatch::Exact("/a".into()), "/a", "/x"),
            (PathMatch::Prefix(String::new()), "/", "/x"),
        ];
        for (matched, path, want) in cases {
            assert_eq!(apply_path(&PathModifier::Full("/x".into()), &matched, path), want, "{matched:?} {path}");
        }
    }

    #[test]
    fn prefix_replacement() {
        let m = PathMatch::Prefix("/prefix/one".into());
        let r = |to: &str, path: &str| apply_path(&PathModifier::Prefix(to.into()), &m, path);
        assert_eq!(r("/", "/prefix/one/two"), "/two");
        assert_eq!(r("/", "/prefix/one"), "/");
        assert_eq!(r("/one", "/prefix/one/two"), "/one/two");
        assert_eq!(r("/one/", "/prefix/one/"), "/one/");
    }
}
