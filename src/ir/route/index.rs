//! An index over a hostname group's entries by path, so that finding the route of a request
//! costs about the same with ten thousand routes as with ten.
//!
//! Entries are kept in precedence order; the route of a request is the first entry whose match
//! holds. The index lists, for every exact path and every path prefix, the entries that use it
//! (in order), and apart from them the entries whose path is a regular expression. A request's
//! candidates are the entries of its exact path, of each of its segment-boundary prefixes, and
//! the regex entries; the first (lowest-numbered) candidate whose whole match holds is the one
//! a scan from the top would have found.

use std::collections::HashMap;

use super::{PathMatch, RequestView, RouteEntry};

/// Below this many entries a plain scan is as fast as the index.
pub const MIN_INDEXED: usize = 16;

#[derive(Debug, Default)]
pub struct PathIndex {
    exact: HashMap<String, Vec<u32>>,
    prefix: HashMap<String, Vec<u32>>,
    regex: Vec<u32>,
}

impl PathIndex {
    pub fn new(entries: &[RouteEntry]) -> PathIndex {
        let mut ix = PathIndex::default();
        for (i, e) in entries.iter().enumerate() {
            let i = i as u32;
            match &e.matcher.path {
                PathMatch::Exact(p) => ix.exact.entry(p.clone()).or_default().push(i),
                PathMatch::Prefix(p) => ix.prefix.entry(p.clone()).or_default().push(i),
                PathMatch::Regex(_) => ix.regex.push(i),
            }
        }
        ix
    }

    /// The index of the first entry that serves `req`.
    pub fn find(&self, entries: &[RouteEntry], req: &RequestView<'_>) -> Option<usize> {
        let mut best: Option<u32> = None;
        let mut consider = |list: &[u32]| {
            for &i in list {
                if best.is_some_and(|b| i >= b) {
                    return;
                }
                if entries[i as usize].matcher.matches(req) {
                    best = Some(i);
                    return;
                }
            }
        };
        let path = req.path;
        if let Some(list) = self.exact.get(path) {
            consider(list);
        }
        // Prefixes are stored without their trailing slash ("" for "/") and match on segment
        // boundaries: the empty prefix, the path up to each `/`, and the whole path.
        for (pos, b) in path.bytes().enumerate() {
            if b == b'/'
                && let Some(list) = self.prefix.get(&path[..pos])
            {
                consider(list);
            }
        }
        if let Some(list) = self.prefix.get(path) {
            consider(list);
        }
        consider(&self.regex);
        best.map(|i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::{HeaderMap, Method};

    use super::super::{RouteMatch, RouteRule};
    use super::*;
    use crate::ir::ObjectKey;

    fn entry(path: PathMatch, method: Option<Method>, n: usize) -> RouteEntry {
        RouteEntry {
            matcher: RouteMatch { path, path_len: 0, method, headers: Vec::new(), query: Vec::new() },
            rule: Arc::new(RouteRule {
                route: ObjectKey::new("default", format!("r{n}")),
                name: n.to_string(),
                filters: Vec::new(),
                backends: Vec::new(),
                timeouts: Default::default(),
                retry: None,
                label: Arc::from(n.to_string()),
                metrics: Default::default(),
                pipeline: Default::default(),
            }),
            policy: None,
        }
    }

    /// Whatever the mix of exact paths, prefixes (shared ones too), regexes and methods, the
    /// index finds the entry a scan from the top finds.
    #[test]
    fn the_index_agrees_with_a_scan() {
        let mut entries = Vec::new();
        for i in 0..300 {
            let path = match i % 7 {
                0 => PathMatch::Exact(format!("/e{}/x", i % 40)),
                1 => PathMatch::Regex(regex::Regex::new(&format!("^/re{}(/.*)?$", i % 30)).expect("regex")),
                2 => PathMatch::Prefix(String::new()),
                _ => PathMatch::Prefix(format!("/p{}", i % 50)),
            };
            let method = (i % 5 == 0).then_some(Method::POST);
            entries.push(entry(path, method, i));
        }
        let ix = PathIndex::new(&entries);
        let headers = HeaderMap::new();
        let paths = ["/", "/e3/x", "/e3/x/y", "/p7", "/p7/", "/p7/a/b", "/p70", "/re4/z", "/re44", "/nothing", ""];
        for method in [Method::GET, Method::POST] {
            for path in paths {
                let req = RequestView { method: &method, path, query: None, headers: &headers };
                let scan = entries.iter().position(|e| e.matcher.matches(&req));
                assert_eq!(ix.find(&entries, &req), scan, "{method} {path}");
            }
        }
    }
}
