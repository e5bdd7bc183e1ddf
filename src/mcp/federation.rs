//! Federation: the targets of a route's MCPBackends seen as one server.
//!
//! - Listings (`tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`) ask
//!   every target at once for one page and merge the answers; the [`Cursor`] handed back
//!   carries each target's own cursor, so a client pages through every target.
//! - Tools and prompts are named with the backend's prefix rules ([`naming::merge`]);
//!   resource URIs and URI templates are rewritten to `sluice:<target>:<original>`
//!   ([`naming::wrap_uri`]) with the original in `_meta`, so that reads route back.
//! - `tools/call`, `prompts/get`, `resources/read` and `completion/complete` go to the owner in
//!   the owner's own terms.
//!
//! Who may see and use what is asked of an [`ItemFilter`] at list time and at use time;
//! today's filter allows everything, a later authorization filter plugs in there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Map, Value, json};

use super::cursor::{Cursor, Position};
use super::jsonrpc::{INTERNAL_ERROR, RpcError};
use super::naming::{self, Listed};
pub use super::upstream::ListKind;
use super::upstream::UpstreamError;
use super::upstream::pool::UpstreamPool;
use super::upstream::relay::ClientPeer;
use crate::httpkit::deadline;
use crate::ir::ObjectKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, PrefixMode};

/// The `_meta` key naming the targets a listing could not reach.
pub const UNAVAILABLE_META: &str = "sluice.dev/unavailableTargets";
/// The `_meta` key of a rewritten resource (or template) holding the target's own URI.
pub const ORIGINAL_URI_META: &str = "sluice.dev/originalUri";
/// The `_meta` key of a federated item naming the target it comes from.
pub const TARGET_META: &str = "sluice.dev/target";
/// How long `initialize` waits for the targets' capabilities.
const CAPABILITIES_WAIT: Duration = Duration::from_secs(10);
/// How many pages a listing made on the server's own behalf (to route a name the client's
/// session has not seen) may take.
const MAX_PAGES: usize = 100;

/// A per-request decision over federated items (authorization, later).
pub trait ItemFilter: Send + Sync {
    /// Whether this request may see and use the item of `target` in `backend` that the target
    /// itself calls `name`: a tool or prompt name, a resource URI, or a URI template (for
    /// `completion/complete` on a template, the template or URI the client named).
    fn allows(&self, backend: &ObjectKey, target: &str, kind: ListKind, name: &str) -> bool;

    /// Whether a call of the tool the client knows as `name` may go now (rate limits).
    fn admit_call<'a>(&'a self, _name: &'a str) -> super::upstream::BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Everything is allowed.
pub struct AllowAll;

impl ItemFilter for AllowAll {
    fn allows(&self, _: &ObjectKey, _: &str, _: ListKind, _: &str) -> bool {
        true
    }
}

/// A target a listing could not reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub backend: ObjectKey,
    pub target: String,
    pub error: String,
}

impl Unavailable {
    fn to_json(&self) -> Value {
        json!({"backend": self.backend.to_string(), "target": self.target, "error": self.error})
    }
}

/// Where an exposed tool or prompt goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The target's stable id, looked up again in the current configuration at use time.
    target_id: Arc<str>,
    upstream: String,
}

impl Owner {
    /// The target's id and the name the target gives the item: what metrics and logs say.
    pub fn labels(&self) -> crate::metrics::Reached<'_> {
        crate::metrics::Reached { target: Some(&self.target_id), tool: Some(&self.upstream) }
    }
}

/// One page of a federated listing.
#[derive(Debug)]
pub struct Listing {
    pub kind: ListKind,
    /// The items as the client sees them (renamed, URIs rewritten).
    pub items: Vec<Value>,
    pub unavailable: Vec<Unavailable>,
    /// Where the next page starts, when some target has more.
    pub next: Option<Cursor>,
    /// Exposed name → owner, for tools and prompts.
    pub owners: HashMap<String, Owner>,
}

impl Listing {
    /// The listing's result: the items, `nextCursor` when there is more, and the missing
    /// targets in `_meta`.
    pub fn result(&self) -> Value {
        let mut out = json!({ self.kind.field(): self.items });
        if let Some(next) = &self.next {
            out["nextCursor"] = Value::String(next.encode());
        }
        if !self.unavailable.is_empty() {
            let missing: Vec<Value> = self.unavailable.iter().map(Unavailable::to_json).collect();
            out["_meta"] = json!({ UNAVAILABLE_META: missing });
        }
        out
    }
}

type Found<'f> = (&'f Arc<McpBackendIr>, &'f Arc<McpTargetIr>, String);

pub struct Federation<'a> {
    pub pool: &'a UpstreamPool,
    pub backends: &'a [Arc<McpBackendIr>],
    pub filter: &'a dyn ItemFilter,
}

impl Federation<'_> {
    fn targets(&self) -> impl Iterator<Item = (&Arc<McpBackendIr>, &Arc<McpTargetIr>)> {
        self.backends.iter().flat_map(|b| b.targets.iter().map(move |t| (b, t)))
    }

    /// The target a rewritten URI names: the first with that name (several backends on one
    /// route may reuse a target name; the later ones' resources are not offered).
    fn uri_owner(&self, name: &str) -> Option<(&Arc<McpBackendIr>, &Arc<McpTargetIr>)> {
        self.targets().find(|(_, t)| t.name == name)
    }

    /// The merged capabilities: tools always; resources, prompts and completions when some
    /// target offers them (asked of every target at once, or remembered from its last session).
    pub async fn capabilities(&self) -> Value {
        let caps = join_all(self.targets().map(|(_, t)| async move {
            let asked = deadline::within(CAPABILITIES_WAIT, self.pool.capabilities(t), UpstreamError::Timeout);
            match asked.await {
                Ok(c) => Some(c),
                Err(_) => self.pool.known_capabilities(t),
            }
        }))
        .await;
        let has = |k: &str| caps.iter().flatten().any(|c| c.get(k).is_some_and(|v| !v.is_null()));
        // List changes of targets are passed on (the GET stream, `subscriptions/listen`).
        let changes = |k: &str| caps.iter().flatten().any(|c| c[k]["listChanged"] == json!(true));
        let mut out = json!({"tools": {"listChanged": changes("tools")}});
        if has("resources") {
            out["resources"] = json!({"subscribe": false, "listChanged": changes("resources")});
        }
        if has("prompts") {
            out["prompts"] = json!({"listChanged": changes("prompts")});
        }
        if has("completions") {
            out["completions"] = json!({});
        }
        out
    }

    /// One page of a listing: from the start (`cursor` `None`) or where a client's cursor
    /// says. Every target with pages left is asked at once.
    pub async fn list(&self, kind: ListKind, cursor: Option<&str>) -> Result<Listing, RpcError> {
        let from = match cursor {
            None => Cursor::start(kind),
            Some(text) => Cursor::decode(text, kind)?,
        };
        let asks: Vec<Option<Option<String>>> = self
            .targets()
            .map(|(_, t)| match from.position(&t.id) {
                Position::Done => None,
                Position::Start => Some(None),
                Position::Next(c) => Some(Some(c.to_string())),
            })
            .collect();
        let answers = join_all(self.targets().zip(asks).map(|((_, t), ask)| async move {
            match ask {
                None => None,
                Some(c) => Some(self.pool.list_page(t, kind, c).await),
            }
        }))
        .await;
        let mut answers = answers.into_iter();
        let mut next = Cursor::start(kind);
        let mut listing =
            Listing { kind, items: Vec::new(), unavailable: Vec::new(), next: None, owners: HashMap::new() };
        let mut taken = HashSet::new();
        for backend in self.backends {
            let mut pages: Vec<Vec<Value>> = Vec::new();
            let mut names: Vec<Vec<String>> = Vec::new();
            let mut known: Vec<Vec<String>> = Vec::new();
            let mut live = Vec::new();
            for target in &backend.targets {
                let Some(answer) = answers.next() else { break };
                let id = target.id.to_string();
                match answer {
                    None => {
                        next.done.insert(id);
                        pages.push(Vec::new());
                        names.push(Vec::new());
                        live.push(false);
                    }
                    Some(Ok(page)) => {
                        let items: Vec<Value> = page
                            .items
                            .into_iter()
                            .filter(|i| kind != ListKind::Tools || target.tools.allows(kind.id_of(i)))
                            .collect();
                        let n: Vec<String> = items.iter().map(|i| kind.id_of(i).to_string()).collect();
                        let first = from.position(&id) == Position::Start;
                        self.pool.remember_names(target, kind, n.clone(), first, page.next_cursor.is_none());
                        match page.next_cursor {
                            Some(c) => {
                                next.next.insert(id, c);
                            }
                            None => {
                                next.done.insert(id);
                            }
                        }
                        pages.push(items);
                        names.push(n);
                        live.push(true);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(target = %target.id, error = %e, method = kind.method(), "MCP target left out of a listing");
                        listing.unavailable.push(Unavailable {
                            backend: backend.key.clone(),
                            target: target.name.clone(),
                            error: public_reason(&e),
                        });
                        next.done.insert(id);
                        pages.push(Vec::new());
                        names.push(Vec::new());
                        live.push(false);
                    }
                }
                known.push(self.pool.known_names(target, kind));
            }
            match kind {
                ListKind::Tools | ListKind::Prompts => {
                    self.merge_named(backend, kind, &pages, &names, &known, &live, &mut taken, &mut listing)
                }
                ListKind::Resources | ListKind::ResourceTemplates => {
                    for (target, items) in backend.targets.iter().zip(pages) {
                        if items.is_empty() {
                            continue;
                        }
                        if self.uri_owner(&target.name).is_none_or(|(_, t)| !Arc::ptr_eq(t, target)) {
                            tracing::warn!(target = %target.id, "MCP target name used by an earlier backend; its resources are not offered");
                            continue;
                        }
                        for mut item in items {
                            let original = kind.id_of(&item).to_string();
                            if original.is_empty() || !self.filter.allows(&backend.key, &target.name, kind, &original) {
                                continue;
                            }
                            item[kind.key()] = Value::String(naming::wrap_uri(&target.name, &original));
                            set_meta(&mut item, ORIGINAL_URI_META, Value::String(original));
                            set_meta(&mut item, TARGET_META, Value::String(target.name.clone()));
                            listing.items.push(item);
                        }
                    }
                }
            }
            let failed: Vec<&Unavailable> = listing.unavailable.iter().filter(|u| u.backend == backend.key).collect();
            if backend.failure_mode == FailureMode::FailClosed && !failed.is_empty() {
                let names: Vec<String> = failed.iter().map(|u| format!("{} ({})", u.target, u.error)).collect();
                return Err(RpcError::new(
                    INTERNAL_ERROR,
                    format!("MCPBackend {} is unavailable: target(s) {}", backend.key, names.join(", ")),
                )
                .with_data(json!({ UNAVAILABLE_META: failed.iter().map(|u| u.to_json()).collect::<Vec<_>>() })));
            }
        }
        listing.next = next.has_more().then_some(next);
        Ok(listing)
    }

    /// Tools and prompts of one backend's page: named by the backend's prefix rules.
    #[allow(clippy::too_many_arguments)]
    fn merge_named(
        &self,
        backend: &McpBackendIr,
        kind: ListKind,
        pages: &[Vec<Value>],
        names: &[Vec<String>],
        known: &[Vec<String>],
        live: &[bool],
        taken: &mut HashSet<String>,
        listing: &mut Listing,
    ) {
        let listed: Vec<Listed<'_>> = backend
            .targets
            .iter()
            .zip(names.iter().zip(known))
            .zip(live)
            .map(|((t, (n, k)), l)| Listed { target: &t.name, names: n, known: k, live: *l })
            .collect();
        for e in naming::merge(backend.prefix, &backend.separator, &listed) {
            let Some(target) = backend.targets.get(e.target) else { continue };
            if !self.filter.allows(&backend.key, &target.name, kind, &e.upstream) || !taken.insert(e.name.clone()) {
                continue;
            }
            let Some(mut item) = pages[e.target].iter().find(|i| kind.id_of(i) == e.upstream).cloned() else {
                continue;
            };
            item["name"] = Value::String(e.name.clone());
            listing.items.push(item);
            listing.owners.insert(e.name, Owner { target_id: target.id.clone(), upstream: e.upstream });
        }
    }

    /// Every page of a listing, merged (first owner of a name wins).
    pub async fn list_all(&self, kind: ListKind) -> Result<Listing, RpcError> {
        let mut all = self.list(kind, None).await?;
        for _ in 1..MAX_PAGES {
            let Some(cursor) = all.next.take() else { break };
            let page = self.list(kind, Some(&cursor.encode())).await?;
            all.items.extend(page.items);
            all.unavailable.extend(page.unavailable);
            for (name, owner) in page.owners {
                all.owners.entry(name).or_insert(owner);
            }
            all.next = page.next;
        }
        all.next = None;
        Ok(all)
    }

    /// Calls the tool the client knows as `name`: through `known` (the owner from the client's
    /// listings) when it has one, else through a fresh listing.
    pub async fn call(
        &self,
        known: Option<Owner>,
        name: &str,
        arguments: Option<Map<String, Value>>,
        client: Option<Arc<dyn ClientPeer>>,
    ) -> Result<Value, RpcError> {
        let (backend, target, upstream) = self.route(ListKind::Tools, known, name).await?;
        if !target.tools.allows(&upstream) {
            // Listed before a reload excluded it: the filter holds at call time too.
            return Err(unknown_name(ListKind::Tools, name));
        }
        self.filter.admit_call(name).await?;
        self.pool.call_tool(target, upstream, arguments, client).await.map_err(|e| upstream_error(backend, target, e))
    }

    /// Gets the prompt the client knows as `name`, like [`Federation::call`].
    pub async fn get_prompt(
        &self,
        known: Option<Owner>,
        name: &str,
        arguments: Option<Map<String, Value>>,
        client: Option<Arc<dyn ClientPeer>>,
    ) -> Result<Value, RpcError> {
        let (backend, target, upstream) = self.route(ListKind::Prompts, known, name).await?;
        self.pool.get_prompt(target, upstream, arguments, client).await.map_err(|e| upstream_error(backend, target, e))
    }

    /// Reads a resource by its rewritten URI; the URIs of the contents are rewritten too.
    pub async fn read_resource(&self, uri: &str, client: Option<Arc<dyn ClientPeer>>) -> Result<Value, RpcError> {
        let (backend, target, original) = self.route_uri(ListKind::Resources, uri)?;
        let mut result =
            self.pool.read_resource(target, original, client).await.map_err(|e| upstream_error(backend, target, e))?;
        if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
            for c in contents {
                if let Some(u) = c.get("uri").and_then(Value::as_str) {
                    let wrapped = naming::wrap_uri(&target.name, u);
                    c["uri"] = Value::String(wrapped);
                }
            }
        }
        Ok(result)
    }

    /// `completion/complete`, routed by its `ref`: a prompt by its exposed name (`known`: the
    /// owner from the client's listings), a resource template by its rewritten URI.
    pub async fn complete(&self, known: Option<Owner>, mut params: Map<String, Value>) -> Result<Value, RpcError> {
        let reference = params.get("ref").and_then(Value::as_object).cloned().unwrap_or_default();
        let str_field = |k: &str| reference.get(k).and_then(Value::as_str).map(str::to_string);
        let (backend, target, rewritten) = match str_field("type").as_deref() {
            Some("ref/prompt") => {
                let Some(name) = str_field("name") else {
                    return Err(RpcError::invalid_params("a ref/prompt needs a name"));
                };
                let (b, t, upstream) = self.route(ListKind::Prompts, known, &name).await?;
                (b, t, ("name", upstream))
            }
            Some("ref/resource") => {
                let Some(uri) = str_field("uri") else {
                    return Err(RpcError::invalid_params("a ref/resource needs a uri"));
                };
                let (b, t, original) = self.route_uri(ListKind::ResourceTemplates, &uri)?;
                (b, t, ("uri", original))
            }
            _ => return Err(RpcError::invalid_params("params.ref.type must be ref/prompt or ref/resource")),
        };
        if let Some(Value::Object(r)) = params.get_mut("ref") {
            r.insert(rewritten.0.to_string(), Value::String(rewritten.1));
        }
        self.pool.complete(target, params).await.map_err(|e| upstream_error(backend, target, e))
    }

    /// The owners of every name of `kind` the targets offer now (every page).
    pub async fn owners(&self, kind: ListKind) -> Result<HashMap<String, Owner>, RpcError> {
        Ok(self.list_all(kind).await?.owners)
    }

    /// The owner of a tool or prompt the client knows as `name`.
    async fn route(&self, kind: ListKind, known: Option<Owner>, name: &str) -> Result<Found<'_>, RpcError> {
        let cached = known.and_then(|o| self.resolve(&o));
        let (backend, target, upstream) = match cached {
            Some(found) => found,
            None => {
                let fresh = self.list_all(kind).await?;
                match fresh.owners.get(name).and_then(|o| self.resolve(o)) {
                    Some(found) => found,
                    None => return Err(self.unknown(kind, &fresh, name)),
                }
            }
        };
        if !self.filter.allows(&backend.key, &target.name, kind, &upstream) {
            return Err(unknown_name(kind, name));
        }
        Ok((backend, target, upstream))
    }

    /// The owner of a rewritten URI, and the target's own URI.
    fn route_uri(&self, kind: ListKind, uri: &str) -> Result<Found<'_>, RpcError> {
        let unknown = || RpcError::invalid_params(format!("Unknown resource: {uri}")).with_data(json!({"uri": uri}));
        let (name, original) = naming::unwrap_uri(uri).ok_or_else(unknown)?;
        let (backend, target) = self.uri_owner(name).ok_or_else(unknown)?;
        if !self.filter.allows(&backend.key, &target.name, kind, original) {
            return Err(unknown());
        }
        Ok((backend, target, original.to_string()))
    }

    fn resolve(&self, owner: &Owner) -> Option<Found<'_>> {
        self.targets().find(|(_, t)| t.id == owner.target_id).map(|(b, t)| (b, t, owner.upstream.clone()))
    }

    /// The error for a name no live target offers: the unavailable target that would own it
    /// (by its prefix or its last known names), else an unknown name.
    fn unknown(&self, kind: ListKind, listing: &Listing, name: &str) -> RpcError {
        for u in &listing.unavailable {
            let Some((backend, target)) = self.targets().find(|(b, t)| b.key == u.backend && t.name == u.target) else {
                continue;
            };
            let by_prefix = backend.prefix != PrefixMode::Never
                && name.strip_prefix(&naming::prefixed(&target.name, &backend.separator, "")).is_some();
            let by_name = self.pool.known_names(target, kind).iter().any(|t| t == name);
            if by_prefix || by_name {
                return unavailable_error(backend, target, &u.error);
            }
        }
        unknown_name(kind, name)
    }
}

fn unknown_name(kind: ListKind, name: &str) -> RpcError {
    let what = if kind == ListKind::Prompts { "prompt" } else { "tool" };
    RpcError::invalid_params(format!("Unknown {what}: {name}"))
}

/// An upstream JSON-RPC error passes through unchanged; anything else names the target.
fn upstream_error(backend: &McpBackendIr, target: &McpTargetIr, e: UpstreamError) -> RpcError {
    match e {
        UpstreamError::Rpc { code, message, data } => RpcError { code, message, data },
        other => {
            tracing::warn!(target = %target.id, error = %other, "MCP target failed a request");
            unavailable_error(backend, target, &public_reason(&other))
        }
    }
}

/// What a client is told of a target's failure: the target's own JSON-RPC error, or a timeout,
/// as they are; that it is unavailable, with the kind of failure but never its text (which may
/// hold a command, an argument or an address): the text goes to the gateway's log.
fn public_reason(e: &UpstreamError) -> String {
    let UpstreamError::Unavailable(why) = e else { return e.to_string() };
    let why = why.to_ascii_lowercase();
    let kind = if why.contains("certificate") || why.contains("unknownissuer") {
        "its TLS certificate was refused"
    } else if why.contains("connection refused") {
        "the connection was refused"
    } else if why.contains("cannot start") || why.contains("exited") {
        "its process could not be started or ended"
    } else {
        "it could not be reached"
    };
    format!("{kind} (the gateway's log says more)")
}

fn unavailable_error(backend: &McpBackendIr, target: &McpTargetIr, why: &str) -> RpcError {
    RpcError::new(
        INTERNAL_ERROR,
        format!("MCP target {:?} of MCPBackend {} is unavailable: {why}", target.name, backend.key),
    )
    .with_data(json!({"backend": backend.key.to_string(), "target": target.name}))
}

/// Sets `item._meta[key]`, keeping what the target put there.
fn set_meta(item: &mut Value, key: &str, value: Value) {
    if !item.get("_meta").is_some_and(Value::is_object) {
        item["_meta"] = json!({});
    }
    item["_meta"][key] = value;
}
