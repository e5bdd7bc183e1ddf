//! Naming of federated items: which targets' tools and prompts are prefixed, what wins a clash,
//! and how resource URIs are rewritten to route back. Pure functions over names, so the rules
//! are tested without any server.

use std::collections::{HashMap, HashSet};

use crate::ir::mcp::PrefixMode;

/// One target's names (tools or prompts) as seen by one page of a listing.
pub struct Listed<'a> {
    pub target: &'a str,
    /// The names (after the target's filters): fresh when `live`, else the last known ones.
    pub names: &'a [String],
    /// Further names the target is known to have (other pages, earlier listings): they count
    /// for `OnConflict` but are not exposed by this page.
    pub known: &'a [String],
    /// Whether the target answered this listing; only live targets' tools are exposed, but
    /// every target's names count for `OnConflict`, so names do not shift while one is down.
    pub live: bool,
}

/// A tool as the client sees it, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// Index into the listed targets.
    pub target: usize,
    pub upstream: String,
    pub name: String,
}

pub fn prefixed(target: &str, separator: &str, tool: &str) -> String {
    format!("{target}{separator}{tool}")
}

/// The scheme of rewritten resource URIs.
pub const URI_SCHEME: &str = "sluice";

/// A target's resource URI (or URI template) as the client sees it:
/// `sluice:<target>:<original>`, the original kept verbatim. Target names are letters,
/// digits, `-` and `_`, never `:`, so the first `:` after the target ends it; the original
/// is untouched, so a template's variables expand as they would upstream.
pub fn wrap_uri(target: &str, uri: &str) -> String {
    format!("{URI_SCHEME}:{target}:{uri}")
}

/// The target and the original URI of a rewritten one; `None` when it is not ours. The scheme
/// is matched without regard to case (URI parsers lower-case schemes).
pub fn unwrap_uri(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    if !scheme.eq_ignore_ascii_case(URI_SCHEME) {
        return None;
    }
    let (target, original) = rest.split_once(':')?;
    let valid = !target.is_empty() && target.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (valid && !original.is_empty()).then_some((target, original))
}

/// The exposed tools of the live targets, in target order then the target's order. A name two
/// entries would share goes to the first; the later one is dropped (and logged).
pub fn merge(mode: PrefixMode, separator: &str, listed: &[Listed<'_>]) -> Vec<Exposed> {
    let clashing: HashSet<&str> = match mode {
        PrefixMode::OnConflict => {
            let mut owners: HashMap<&str, HashSet<&str>> = HashMap::new();
            for l in listed {
                for n in l.names.iter().chain(l.known) {
                    owners.entry(n.as_str()).or_default().insert(l.target);
                }
            }
            owners.into_iter().filter(|(_, t)| t.len() > 1).map(|(n, _)| n).collect()
        }
        PrefixMode::Always | PrefixMode::Never => HashSet::new(),
    };
    let mut taken = HashSet::new();
    let mut out = Vec::new();
    for (i, l) in listed.iter().enumerate().filter(|(_, l)| l.live) {
        for upstream in l.names {
            let prefix = match mode {
                PrefixMode::Always => true,
                PrefixMode::OnConflict => clashing.contains(upstream.as_str()),
                PrefixMode::Never => false,
            };
            let name = if prefix { prefixed(l.target, separator, upstream) } else { upstream.clone() };
            if !taken.insert(name.clone()) {
                tracing::warn!(target = l.target, tool = %upstream, exposed = %name, "MCP tool name taken by an earlier target; dropped");
                continue;
            }
            out.push(Exposed { target: i, upstream: upstream.clone(), name });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    fn exposed(out: &[Exposed]) -> Vec<(usize, &str, &str)> {
        out.iter().map(|e| (e.target, e.upstream.as_str(), e.name.as_str())).collect()
    }

    #[test]
    fn always_prefixes_every_tool() {
        let (a, b) = (names(&["get_time", "echo"]), names(&["echo", "add"]));
        let listed = [
            Listed { target: "time", names: &a, known: &[], live: true },
            Listed { target: "ev", names: &b, known: &[], live: true },
        ];
        let out = merge(PrefixMode::Always, "_", &listed);
        assert_eq!(
            exposed(&out),
            [(0, "get_time", "time_get_time"), (0, "echo", "time_echo"), (1, "echo", "ev_echo"), (1, "add", "ev_add")]
        );
        let out = merge(PrefixMode::Always, "__", &listed);
        assert_eq!(out[0].name, "time__get_time");
    }

    #[test]
    fn on_conflict_prefixes_only_shared_names_even_when_a_target_is_down() {
        let (a, b) = (names(&["get_time", "echo"]), names(&["echo", "add"]));
        let both = [
            Listed { target: "time", names: &a, known: &[], live: true },
            Listed { target: "ev", names: &b, known: &[], live: true },
        ];
        let out = merge(PrefixMode::OnConflict, "_", &both);
        assert_eq!(
            exposed(&out),
            [(0, "get_time", "get_time"), (0, "echo", "time_echo"), (1, "echo", "ev_echo"), (1, "add", "add")]
        );
        // `ev` is down: its last known names still make `echo` a clash, so `time_echo` stays.
        let one = [
            Listed { target: "time", names: &a, known: &[], live: true },
            Listed { target: "ev", names: &b, known: &[], live: false },
        ];
        let out = merge(PrefixMode::OnConflict, "_", &one);
        assert_eq!(exposed(&out), [(0, "get_time", "get_time"), (0, "echo", "time_echo")]);
    }

    #[test]
    fn names_known_from_other_pages_count_as_conflicts() {
        let (a, b, later) = (names(&["echo"]), names(&["add"]), names(&["echo"]));
        let listed = [
            Listed { target: "time", names: &a, known: &[], live: true },
            Listed { target: "ev", names: &b, known: &later, live: true },
        ];
        let out = merge(PrefixMode::OnConflict, "_", &listed);
        assert_eq!(exposed(&out), [(0, "echo", "time_echo"), (1, "add", "add")]);
    }

    #[test]
    fn resource_uris_are_rewritten_reversibly() {
        for (target, uri) in [
            ("everything", "demo://static/docs/features.md"),
            ("my_target-2", "file:///tmp/a%20b.txt?x=1#frag"),
            ("t", "demo://resource/dynamic/text/{resourceId}"),
            ("t", "urn:isbn:0451450523"),
            ("t", "sluice:nested:demo://x"),
        ] {
            let wrapped = wrap_uri(target, uri);
            assert_eq!(unwrap_uri(&wrapped), Some((target, uri)), "{wrapped}");
        }
        assert_eq!(wrap_uri("everything", "demo://a/b"), "sluice:everything:demo://a/b");
        assert_eq!(unwrap_uri("SLUICE:ev:demo://a"), Some(("ev", "demo://a")));
        // A template expanded by the client still routes back.
        let expanded = wrap_uri("ev", "demo://resource/dynamic/text/{id}").replace("{id}", "7");
        assert_eq!(unwrap_uri(&expanded), Some(("ev", "demo://resource/dynamic/text/7")));
        for not_ours in ["demo://a", "sluice:", "sluice:ev", "sluice::demo://a", "sluice:ev:", "sluice:a b:x", "x:y:z"]
        {
            assert_eq!(unwrap_uri(not_ours), None, "{not_ours}");
        }
    }

    #[test]
    fn never_keeps_names_and_the_first_target_wins() {
        let (a, b) = (names(&["echo", "x"]), names(&["echo", "y"]));
        let listed = [
            Listed { target: "a", names: &a, known: &[], live: true },
            Listed { target: "b", names: &b, known: &[], live: true },
        ];
        let out = merge(PrefixMode::Never, "_", &listed);
        assert_eq!(exposed(&out), [(0, "echo", "echo"), (0, "x", "x"), (1, "y", "y")]);
    }

    #[test]
    fn a_prefixed_name_that_collides_goes_to_the_first() {
        let (a, b) = (names(&["b_c"]), names(&["c"]));
        let listed = [
            Listed { target: "a", names: &a, known: &[], live: true },
            Listed { target: "a_b", names: &b, known: &[], live: true },
        ];
        let out = merge(PrefixMode::Always, "_", &listed);
        assert_eq!(exposed(&out), [(0, "b_c", "a_b_c")]);
    }
}
