//! Naming of federated items: which targets' tools are prefixed, and what wins a clash. Pure
//! functions over names, so the rules are tested without any server.

use std::collections::{HashMap, HashSet};

use crate::ir::mcp::PrefixMode;

/// One target's tool names as seen by a listing.
pub struct Listed<'a> {
    pub target: &'a str,
    /// The names (after the target's filters): fresh when `live`, else the last known ones.
    pub names: &'a [String],
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

/// The exposed tools of the live targets, in target order then the target's order. A name two
/// entries would share goes to the first; the later one is dropped (and logged).
pub fn merge(mode: PrefixMode, separator: &str, listed: &[Listed<'_>]) -> Vec<Exposed> {
    let clashing: HashSet<&str> = match mode {
        PrefixMode::OnConflict => {
            let mut owners: HashMap<&str, HashSet<&str>> = HashMap::new();
            for l in listed {
                for n in l.names {
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
        let listed = [Listed { target: "time", names: &a, live: true }, Listed { target: "ev", names: &b, live: true }];
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
        let both = [Listed { target: "time", names: &a, live: true }, Listed { target: "ev", names: &b, live: true }];
        let out = merge(PrefixMode::OnConflict, "_", &both);
        assert_eq!(
            exposed(&out),
            [(0, "get_time", "get_time"), (0, "echo", "time_echo"), (1, "echo", "ev_echo"), (1, "add", "add")]
        );
        // `ev` is down: its last known names still make `echo` a clash, so `time_echo` stays.
        let one = [Listed { target: "time", names: &a, live: true }, Listed { target: "ev", names: &b, live: false }];
        let out = merge(PrefixMode::OnConflict, "_", &one);
        assert_eq!(exposed(&out), [(0, "get_time", "get_time"), (0, "echo", "time_echo")]);
    }

    #[test]
    fn never_keeps_names_and_the_first_target_wins() {
        let (a, b) = (names(&["echo", "x"]), names(&["echo", "y"]));
        let listed = [Listed { target: "a", names: &a, live: true }, Listed { target: "b", names: &b, live: true }];
        let out = merge(PrefixMode::Never, "_", &listed);
        assert_eq!(exposed(&out), [(0, "echo", "echo"), (0, "x", "x"), (1, "y", "y")]);
    }

    #[test]
    fn a_prefixed_name_that_collides_goes_to_the_first() {
        let (a, b) = (names(&["b_c"]), names(&["c"]));
        let listed = [Listed { target: "a", names: &a, live: true }, Listed { target: "a_b", names: &b, live: true }];
        let out = merge(PrefixMode::Always, "_", &listed);
        assert_eq!(exposed(&out), [(0, "b_c", "a_b_c")]);
    }
}
