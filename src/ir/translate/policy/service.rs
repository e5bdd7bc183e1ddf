//! A service a policy calls (external auth, a webhook guard), resolved like a route's backend:
//! its upstream and the authority sent to it.

use std::collections::BTreeMap;

use super::super::backend::{BackendRefArgs, BackendResolver, PolicyUse};
use super::super::index::Index;
use super::super::refs::RefFailure;
use crate::api::BackendObjectReference;
use crate::ir::ObjectKey;
use crate::ir::backend::Upstream;

/// The upstream of `b` (a Service, or a Backend in standalone mode) and its authority
/// (`name.namespace:port`); `field` names the reference in errors.
pub fn resolve(
    ix: &Index<'_>,
    ns: &str,
    b: &BackendObjectReference,
    field: &str,
) -> Result<(Upstream, String), RefFailure> {
    let key = ObjectKey::new(ns, "trafficpolicy");
    let mut uses: BTreeMap<ObjectKey, PolicyUse> = BTreeMap::new();
    let mut resolver = BackendResolver {
        ix,
        route_kind: "TrafficPolicy",
        route_ns: ns,
        gateway: &key,
        client_cert: None,
        policies: &mut uses,
    };
    let args = BackendRefArgs::of(b);
    let ns_of_ref = b.namespace.as_deref().unwrap_or(ns);
    let upstream = resolver.resolve_target(&args, ns_of_ref).map_err(|(r, m)| (r, format!("{field}: {m}")))?;
    Ok((upstream, format!("{}.{}:{}", b.name, ns_of_ref, b.port.unwrap_or(80))))
}
