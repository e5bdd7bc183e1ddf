//! HTTPRoute attachment: which listeners of which Gateways take a route, with the spec's
//! reasons when none does.

use std::cmp::Reverse;

use super::gateway::{GatewayState, ListenerState};
use super::index::{Index, selector_matches};
use crate::api::{FromNamespaces, GATEWAY_GROUP, ParentReference};
use crate::ir::hostname;
use crate::ir::route::{PathMatch, RouteMatch};
use crate::ir::status::{CONTROLLER_NAME, Condition};

/// What attachment needs to know of a route of any kind.
pub struct RouteRef<'r> {
    pub kind: &'static str,
    pub namespace: &'r str,
    pub hostnames: &'r [String],
}

/// Where a route attaches on one parentRef: listener indexes with the hostnames it serves there.
pub struct Attachment {
    pub listeners: Vec<(usize, Vec<Option<String>>)>,
}

/// Finds the listeners a parentRef selects. `Err` carries the Accepted=False reason.
pub fn attach(
    route: &RouteRef<'_>,
    parent: &ParentReference,
    gw: &GatewayState<'_>,
    ix: &Index<'_>,
) -> Result<Attachment, (String, String)> {
    let route_ns = route.namespace;
    if let Some((reason, msg)) = &gw.rejected {
        return Err(("NoMatchingParent".into(), format!("Gateway {} is not accepted ({reason}): {msg}", gw.key)));
    }
    let selected: Vec<(usize, &ListenerState<'_>)> = gw
        .listeners
        .iter()
        .enumerate()
        .filter(|(_, l)| parent.section_name.as_deref().is_none_or(|s| s == l.spec.name))
        .filter(|(_, l)| parent.port.is_none_or(|p| p == l.spec.port))
        .collect();
    if selected.is_empty() {
        return Err((
            "NoMatchingParent".into(),
            format!(
                "Gateway {} has no listener matching sectionName {:?} and port {:?}",
                gw.key, parent.section_name, parent.port
            ),
        ));
    }
    let route_labels = ix.namespace_labels(route_ns);
    let allowed: Vec<(usize, &ListenerState<'_>)> = selected
        .into_iter()
        .filter(|(_, l)| l.supported_kinds.iter().any(|(g, k)| g == GATEWAY_GROUP && k == route.kind))
        .filter(|(_, l)| {
            let ns_policy = l.spec.allowed_routes.as_ref().and_then(|a| a.namespaces.as_ref());
            match ns_policy.map(|n| n.from()).unwrap_or_default() {
                FromNamespaces::All => true,
                FromNamespaces::Same => route_ns == gw.key.namespace,
                FromNamespaces::Selector => {
                    ns_policy.and_then(|n| n.selector.as_ref()).is_some_and(|s| selector_matches(s, &route_labels))
                }
            }
        })
        .collect();
    if allowed.is_empty() {
        return Err(("NotAllowedByListeners".into(), format!("no listener of Gateway {} allows this route", gw.key)));
    }
    let mut listeners = Vec::new();
    for (i, l) in allowed {
        let lh = l.spec.hostname.as_deref();
        let hosts: Vec<Option<String>> = if route.hostnames.is_empty() {
            vec![lh.map(str::to_ascii_lowercase)]
        } else {
            route.hostnames.iter().filter_map(|h| hostname::intersect(h, lh)).map(Some).collect()
        };
        if !hosts.is_empty() {
            listeners.push((i, hosts));
        }
    }
    if listeners.is_empty() {
        return Err((
            "NoMatchingListenerHostname".into(),
            format!("no hostname of the route matches a listener of Gateway {}", gw.key),
        ));
    }
    Ok(Attachment { listeners })
}

/// Orders route entries by the Gateway API's precedence: exact path, then longer prefixes
/// (regular expressions between the two), method, more header matches, more query matches,
/// then route age and name, rule and match order.
pub type SortKey = (u8, Reverse<usize>, Reverse<bool>, Reverse<usize>, Reverse<usize>, usize, usize, usize);

pub fn sort_key(m: &RouteMatch, route_order: usize, rule: usize, match_index: usize) -> SortKey {
    let rank = match &m.path {
        PathMatch::Exact(_) => 0,
        PathMatch::Regex(_) => 1,
        PathMatch::Prefix(_) => 2,
    };
    let len = m.path_len;
    (
        rank,
        Reverse(len),
        Reverse(m.method.is_some()),
        Reverse(m.headers.len()),
        Reverse(m.query.len()),
        route_order,
        rule,
        match_index,
    )
}

/// The status entry's echo of a parentRef, with defaults filled in.
pub fn parent_ref_json(p: &ParentReference, route_ns: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "group": p.group(),
        "kind": p.kind(),
        "namespace": p.namespace.as_deref().unwrap_or(route_ns),
        "name": p.name,
    });
    if let Some(s) = &p.section_name {
        v["sectionName"] = serde_json::json!(s);
    }
    if let Some(port) = p.port {
        v["port"] = serde_json::json!(port);
    }
    v
}

/// Which of our Gateways a parentRef names.
pub enum ParentLookup {
    Ours(usize),
    /// A Gateway of another class, or not a Gateway: not ours to report on.
    NotOurs,
    /// No such Gateway anywhere in the configuration: a dangling reference.
    Missing(String),
}

pub fn find_parent(
    parent: &ParentReference,
    route_ns: &str,
    gateways: &[GatewayState<'_>],
    ix: &Index<'_>,
) -> ParentLookup {
    if parent.group() != GATEWAY_GROUP || parent.kind() != "Gateway" {
        return ParentLookup::NotOurs;
    }
    let gw_ns = parent.namespace.as_deref().unwrap_or(route_ns);
    if let Some(gi) = gateways.iter().position(|g| g.key.namespace == gw_ns && g.key.name == parent.name) {
        return ParentLookup::Ours(gi);
    }
    if ix.gateways.iter().any(|g| g.metadata.namespace() == gw_ns && g.metadata.name() == parent.name) {
        ParentLookup::NotOurs
    } else {
        ParentLookup::Missing(format!("Gateway {gw_ns}/{} not found", parent.name))
    }
}

/// One `status.parents` entry.
pub fn parent_status(parent: &ParentReference, route_ns: &str, conditions: Vec<Condition>) -> serde_json::Value {
    serde_json::json!({
        "parentRef": parent_ref_json(parent, route_ns),
        "controllerName": CONTROLLER_NAME,
        "conditions": conditions,
    })
}
