//! A fake Kubernetes API server, written from the published REST protocol (no kube-apiserver
//! can run on these machines): the list and watch calls `kube`'s watcher makes, on the paths of
//! core (`/api/v1/…`) and group (`/apis/GROUP/VERSION/…`) resources, cluster-wide or in one
//! namespace.
//!
//! - **List**: `{kind: XList, metadata: {resourceVersion}, items}`; `labelSelector` of
//!   `key=value` terms.
//! - **Watch** (`watch=true`, from `resourceVersion`): newline-delimited `{type, object}` events,
//!   ADDED / MODIFIED / DELETED, and BOOKMARK when asked for; a `resourceVersion` older than the
//!   retained history gets an `ERROR` event with a `410 Expired` Status, as a compacted etcd
//!   answers, and the client must re-list.
//! - **Writes** (for tests and independent clients): POST to a collection, PUT and DELETE of an
//!   object; every write takes the next resourceVersion.
//! - **Faults**: [`FakeKube::break_watches`] cuts every open watch mid-stream;
//!   [`FakeKube::compact`] forgets the history (the next resumed watch gets a 410);
//!   [`FakeKube::set_down`] answers every request `503` and cuts the watches, as an API server
//!   that went away.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// One change, as a watch sends it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    /// `group/version/plural`
    collection: String,
    namespace: Option<String>,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Store {
    rv: u64,
    /// By collection, then `namespace/name`.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    history: Vec<Change>,
    /// Changes before this resourceVersion are forgotten.
    oldest: u64,
}

struct Inner {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
    /// Sent to cut every open watch.
    cut: broadcast::Sender<()>,
    down: AtomicBool,
    /// Writes of Leases answered `500` (a holder that cannot renew).
    refuse_leases: AtomicBool,
    /// Watches answered `410 Expired`.
    expired: std::sync::atomic::AtomicUsize,
    /// Watch requests received.
    watches: std::sync::atomic::AtomicUsize,
    /// Status patches applied.
    status_patches: std::sync::atomic::AtomicUsize,
    /// The field manager of each status patch, in order.
    status_writers: Mutex<Vec<String>>,
}

/// A running fake API server on a loopback port.
#[derive(Clone)]
pub struct FakeKube {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

/// Where a request points: a collection (and an object of it), in a namespace or not.
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
    /// `status`, for `…/NAME/status`.
    status: bool,
}

/// `/api/v1[/namespaces/NS]/PLURAL[/NAME]` or `/apis/G/V[/namespaces/NS]/PLURAL[/NAME]`.
fn target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (format!("/{v}"), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let collection = |plural: &str| format!("{gv}/{plural}");
    match rest {
        [plural] => Some(Target { collection: collection(plural), namespace, name: None, status: false }),
        [plural, name] => {
            Some(Target { collection: collection(plural), namespace, name: Some(name.to_string()), status: false })
        }
        [plural, name, "status"] => {
            Some(Target { collection: collection(plural), namespace, name: Some(name.to_string()), status: true })
        }
        _ => None,
    }
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned()))
        .collect()
}

fn key(object: &Value) -> String {
    let m = &object["metadata"];
    format!("{}/{}", m["namespace"].as_str().unwrap_or_default(), m["name"].as_str().unwrap_or_default())
}

/// `a=b,c=d` against an object's labels.
fn selected(object: &Value, selector: Option<&String>) -> bool {
    let Some(s) = selector.filter(|s| !s.is_empty()) else { return true };
    s.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k.trim_end_matches('=')].as_str() == Some(v),
        None => object["metadata"]["labels"].get(term).is_some(),
    })
}

fn in_scope(change_ns: Option<&str>, asked: Option<&str>) -> bool {
    asked.is_none_or(|ns| change_ns == Some(ns))
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    (code, [(http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [(http::header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

impl FakeKube {
    /// Starts the fake on `127.0.0.1`, port chosen by the system.
    pub async fn start() -> FakeKube {
        let (changes, _) = broadcast::channel(4096);
        let (cut, _) = broadcast::channel(16);
        let inner = Arc::new(Inner {
            store: Mutex::new(Store { rv: 100, oldest: 0, ..Store::default() }),
            changes,
            cut,
            down: AtomicBool::new(false),
            refuse_leases: AtomicBool::new(false),
            expired: Default::default(),
            watches: Default::default(),
            status_patches: Default::default(),
            status_writers: Default::default(),
        });
        let app = axum::Router::new().fallback(serve).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake API server");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube { inner, addr }
    }

    /// A kubeconfig naming this server, written to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             users:\n- name: tester\n  user:\n    token: fake-token\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: tester\ncurrent-context: fake\n",
            self.addr
        );
        std::fs::write(path, text).expect("write the kubeconfig");
    }

    /// Creates or replaces an object (a manifest as standalone mode reads it).
    pub fn apply(&self, object: Value) {
        let (collection, namespace) = collection_of(&object);
        let mut store = self.inner.store.lock().expect("store");
        let existed = store.objects.get(&collection).is_some_and(|c| c.contains_key(&key(&object)));
        write(&self.inner, &mut store, collection, namespace, if existed { "MODIFIED" } else { "ADDED" }, object);
    }

    /// Deletes an object, if there is one.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let probe =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let (collection, namespace) = collection_of(&probe);
        let mut store = self.inner.store.lock().expect("store");
        let Some(old) = store.objects.get_mut(&collection).and_then(|c| c.remove(&key(&probe))) else { return };
        write(&self.inner, &mut store, collection, namespace, "DELETED", old);
    }

    /// Cuts every open watch mid-stream.
    pub fn break_watches(&self) {
        let _ = self.inner.cut.send(());
    }

    /// Forgets the history: a watch resumed from an earlier resourceVersion gets a 410.
    pub fn compact(&self) {
        let mut store = self.inner.store.lock().expect("store");
        store.oldest = store.rv + 1;
        store.history.clear();
    }

    /// The server goes away (`true`: every request answered 503, open watches cut) or returns.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
        if down {
            self.break_watches();
        }
    }

    /// Writes of Leases fail (`true`: answered 500, everything else served) or work again.
    pub fn refuse_lease_writes(&self, refuse: bool) {
        self.inner.refuse_leases.store(refuse, Ordering::SeqCst);
    }

    /// Watches answered `410 Expired` so far.
    pub fn expired_watches(&self) -> usize {
        self.inner.expired.load(Ordering::SeqCst)
    }

    /// Watch requests received so far.
    pub fn watch_requests(&self) -> usize {
        self.inner.watches.load(Ordering::SeqCst)
    }

    /// Status patches applied so far.
    pub fn status_patches(&self) -> usize {
        self.inner.status_patches.load(Ordering::SeqCst)
    }

    /// The field manager of each status patch so far, in order.
    pub fn status_writers(&self) -> Vec<String> {
        self.inner.status_writers.lock().expect("writers").clone()
    }

    /// An object as stored (with its status), if there is one.
    pub fn get(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let probe =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let (collection, _) = collection_of(&probe);
        let store = self.inner.store.lock().expect("store");
        store.objects.get(&collection).and_then(|c| c.get(&key(&probe))).cloned()
    }

    /// The stored object `doc` names (by apiVersion, kind, namespace and name).
    pub fn get_value(&self, doc: &Value) -> Option<Value> {
        let (collection, namespace) = collection_of(doc);
        let k = format!("{}/{}", namespace.unwrap_or_default(), doc["metadata"]["name"].as_str().unwrap_or_default());
        let store = self.inner.store.lock().expect("store");
        store.objects.get(&collection).and_then(|c| c.get(&k)).cloned()
    }

    /// Deletes the object `doc` names, if there is one.
    pub fn delete_value(&self, doc: &Value) {
        let (_, namespace) = collection_of(doc);
        self.delete(
            doc["apiVersion"].as_str().unwrap_or("v1"),
            doc["kind"].as_str().unwrap_or_default(),
            namespace.as_deref(),
            doc["metadata"]["name"].as_str().unwrap_or_default(),
        );
    }

    /// Every stored object, with apiVersion and kind.
    pub fn all(&self) -> Vec<Value> {
        let store = self.inner.store.lock().expect("store");
        store.objects.values().flat_map(|c| c.values().cloned()).collect()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.store.lock().expect("store").rv
    }
}

/// The namespace of an object (`default` when it names none), `None` for cluster-scoped kinds.
pub fn namespace_of(object: &Value) -> Option<String> {
    collection_of(object).1
}

/// The collection an object belongs to: its apiVersion and the plural of its kind.
fn collection_of(object: &Value) -> (String, Option<String>) {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let kind = object["kind"].as_str().unwrap_or_default();
    let plural = match kind {
        "GatewayClass" => "gatewayclasses".to_string(),
        "BackendTLSPolicy" => "backendtlspolicies".to_string(),
        "TrafficPolicy" => "trafficpolicies".to_string(),
        k => format!("{}s", k.to_ascii_lowercase()),
    };
    let gv = if api_version.contains('/') { api_version.to_string() } else { format!("/{api_version}") };
    let cluster_scoped = matches!(kind, "GatewayClass" | "Namespace");
    let namespace =
        (!cluster_scoped).then(|| object["metadata"]["namespace"].as_str().unwrap_or("default").to_string());
    (format!("{gv}/{plural}"), namespace)
}

/// Stores a change under the next resourceVersion and sends it to the watches.
fn write(
    inner: &Inner,
    store: &mut Store,
    collection: String,
    namespace: Option<String>,
    kind: &'static str,
    mut object: Value,
) {
    store.rv += 1;
    let rv = store.rv;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        if let Some(ns) = &namespace {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        meta.entry("uid").or_insert_with(|| Value::String(format!("uid-{rv}")));
    }
    // The generation moves when anything but metadata and status does, as the API server's.
    let old = store.objects.get(&collection).and_then(|c| c.get(&key(&object))).cloned();
    let body = |o: &Value| {
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        o
    };
    let old_generation = old.as_ref().and_then(|o| o["metadata"]["generation"].as_i64()).unwrap_or(0);
    let same = old.as_ref().is_some_and(|o| body(o) == body(&object));
    if kind != "DELETED" {
        object["metadata"]["generation"] = json!(if same { old_generation } else { old_generation + 1 });
        // The same object keeps its uid; a new one (after a delete) gets a new uid.
        if let Some(uid) = old.as_ref().and_then(|o| o["metadata"].get("uid")).cloned() {
            object["metadata"]["uid"] = uid;
        }
        if same && object.get("status").is_none() {
            // A replace without status keeps the status (it is a subresource).
            if let Some(s) = old.as_ref().and_then(|o| o.get("status")) {
                object["status"] = s.clone();
            }
        }
    }
    if kind != "DELETED" {
        store.objects.entry(collection.clone()).or_default().insert(key(&object), object.clone());
    }
    let change = Change { rv, collection, namespace, kind, object };
    store.history.push(change.clone());
    let _ = inner.changes.send(change);
}

/// The kinds the fake serves: (group, version, plural, kind, namespaced).
const KINDS: [(&str, &str, &str, &str, bool); 15] = [
    ("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", false),
    ("gateway.networking.k8s.io", "v1", "gateways", "Gateway", true),
    ("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", true),
    ("gateway.networking.k8s.io", "v1", "tlsroutes", "TLSRoute", true),
    ("gateway.networking.k8s.io", "v1", "referencegrants", "ReferenceGrant", true),
    ("gateway.networking.k8s.io", "v1", "backendtlspolicies", "BackendTLSPolicy", true),
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "services", "Service", true),
    ("", "v1", "secrets", "Secret", true),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true),
    ("sluice.dev", "v1alpha1", "aibackends", "AIBackend", true),
    ("sluice.dev", "v1alpha1", "mcpbackends", "MCPBackend", true),
    ("sluice.dev", "v1alpha1", "trafficpolicies", "TrafficPolicy", true),
    ("coordination.k8s.io", "v1", "leases", "Lease", true),
];

/// Discovery (the legacy documents, which every kubectl reads when it is not offered the
/// aggregated ones): `/api`, `/apis`, and each group version's resource list.
fn discovery(path: &str) -> Option<Value> {
    let resources = |group: &str, version: &str| -> Value {
        let list: Vec<Value> = KINDS
            .iter()
            .filter(|k| k.0 == group && k.1 == version)
            .flat_map(|(_, _, plural, kind, namespaced)| {
                let singular = kind.to_ascii_lowercase();
                [
                    json!({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind,
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}),
                    json!({"name": format!("{plural}/status"), "singularName": "", "namespaced": namespaced,
                        "kind": kind, "verbs": ["get", "patch", "update"]}),
                ]
            })
            .collect();
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
    };
    match path.trim_end_matches('/') {
        "/version" => {
            Some(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-sluice-fake", "platform": "linux/amd64"}))
        }
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        "/api/v1" => Some(resources("", "v1")),
        "/apis" => {
            let mut groups: Vec<(&str, &str)> = KINDS.iter().filter(|k| !k.0.is_empty()).map(|k| (k.0, k.1)).collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        p => {
            let rest = p.strip_prefix("/apis/")?;
            let (g, v) = rest.split_once('/')?;
            (!v.contains('/') && KINDS.iter().any(|k| k.0 == g && k.1 == v)).then(|| resources(g, v))
        }
    }
}

async fn serve(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    if inner.down.load(Ordering::SeqCst) {
        return status(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the fake API server is down");
    }
    if req.method() == http::Method::GET
        && let Some(doc) = discovery(req.uri().path())
    {
        return json_response(StatusCode::OK, &doc);
    }
    let Some(t) = target(req.uri().path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "no such path");
    };
    let q = query(&req);
    match (req.method().clone(), &t.name) {
        (http::Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => watch(inner, t, q),
        (http::Method::GET, None) => list(&inner, &t, &q),
        (http::Method::GET, Some(name)) => {
            let store = inner.store.lock().expect("store");
            let k = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
            match store.objects.get(&t.collection).and_then(|c| c.get(&k)) {
                Some(o) => json_response(StatusCode::OK, o),
                None => status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found")),
            }
        }
        (http::Method::POST, None) | (http::Method::PUT, Some(_))
            if t.collection.ends_with("/leases") && inner.refuse_leases.load(Ordering::SeqCst) =>
        {
            status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "lease writes are refused by the test")
        }
        (http::Method::POST, None) | (http::Method::PUT, Some(_)) => {
            let create = req.method() == http::Method::POST;
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            let Ok(mut object) = serde_json::from_slice::<Value>(&body) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON");
            };
            if let Some(ns) = &t.namespace {
                object["metadata"]["namespace"] = json!(ns);
            }
            let mut store = inner.store.lock().expect("store");
            let stored = store.objects.get(&t.collection).and_then(|c| c.get(&key(&object))).cloned();
            let existed = stored.is_some();
            if create && existed {
                return status(StatusCode::CONFLICT, "AlreadyExists", "the object already exists");
            }
            if !create && !existed {
                return status(StatusCode::NOT_FOUND, "NotFound", "no such object to replace");
            }
            // A replace that names a resourceVersion other than the stored one lost a race.
            if let (Some(rv), Some(s)) = (object["metadata"]["resourceVersion"].as_str(), &stored)
                && Some(rv) != s["metadata"]["resourceVersion"].as_str()
            {
                return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
            }
            write(&inner, &mut store, t.collection, t.namespace, if existed { "MODIFIED" } else { "ADDED" }, object);
            let stored = store.history.last().map(|c| c.object.clone()).unwrap_or_default();
            json_response(if existed { StatusCode::OK } else { StatusCode::CREATED }, &stored)
        }
        (http::Method::PATCH, Some(name)) if t.status => {
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "the patch is not JSON");
            };
            let mut store = inner.store.lock().expect("store");
            let k = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
            let Some(mut object) = store.objects.get(&t.collection).and_then(|c| c.get(&k)).cloned() else {
                return status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found"));
            };
            if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                && Some(rv) != object["metadata"]["resourceVersion"].as_str()
            {
                return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
            }
            // A status patch changes the status only (RFC 7386 merge).
            merge_patch(&mut object["status"], &patch["status"]);
            inner.status_patches.fetch_add(1, Ordering::SeqCst);
            let manager = q.get("fieldManager").cloned().unwrap_or_default();
            inner.status_writers.lock().expect("writers").push(manager);
            write(&inner, &mut store, t.collection, t.namespace, "MODIFIED", object);
            let stored = store.history.last().map(|c| c.object.clone()).unwrap_or_default();
            json_response(StatusCode::OK, &stored)
        }
        (http::Method::DELETE, Some(name)) => {
            let mut store = inner.store.lock().expect("store");
            let k = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
            match store.objects.get_mut(&t.collection).and_then(|c| c.remove(&k)) {
                Some(old) => {
                    write(&inner, &mut store, t.collection, t.namespace, "DELETED", old.clone());
                    json_response(StatusCode::OK, &old)
                }
                None => status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found")),
            }
        }
        _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "not supported by the fake"),
    }
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn list(inner: &Inner, t: &Target, q: &BTreeMap<String, String>) -> Response {
    let store = inner.store.lock().expect("store");
    let items: Vec<Value> = store
        .objects
        .get(&t.collection)
        .map(|c| {
            c.values()
                .filter(|o| in_scope(o["metadata"]["namespace"].as_str(), t.namespace.as_deref()))
                .filter(|o| selected(o, q.get("labelSelector")))
                .map(|o| {
                    // Items of a list carry neither apiVersion nor kind.
                    let mut o = o.clone();
                    if let Some(m) = o.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    o
                })
                .collect()
        })
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
    )
}

fn watch(inner: Arc<Inner>, t: Target, q: BTreeMap<String, String>) -> Response {
    let from: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let selector = q.get("labelSelector").cloned();
    let mut live = inner.changes.subscribe();
    let mut cut = inner.cut.subscribe();
    inner.watches.fetch_add(1, Ordering::SeqCst);
    let (backlog, expired, current) = {
        let store = inner.store.lock().expect("store");
        let expired = from != 0 && from + 1 < store.oldest;
        if expired {
            inner.expired.fetch_add(1, Ordering::SeqCst);
        }
        let backlog: Vec<Change> = store.history.iter().filter(|c| c.rv > from).cloned().collect();
        (backlog, expired, store.rv)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        let line = |v: Value| Bytes::from(v.to_string() + "\n");
        if expired {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {from} ({current})"), "reason": "Expired", "code": 410});
            let _ = tx.send(Ok(line(json!({"type": "ERROR", "object": status})))).await;
            return;
        }
        let relevant = |c: &Change| {
            c.collection == t.collection
                && in_scope(c.namespace.as_deref(), t.namespace.as_deref())
                && selected(&c.object, selector.as_ref())
        };
        let mut sent = from;
        for c in backlog.iter().filter(|c| relevant(c)) {
            sent = c.rv;
            if tx.send(Ok(line(json!({"type": c.kind, "object": c.object})))).await.is_err() {
                return;
            }
        }
        if bookmarks {
            let rv = current.max(sent);
            let mark = json!({"type": "BOOKMARK", "object": {"kind": "Bookmark", "metadata": {"resourceVersion": rv.to_string()}}});
            let _ = tx.send(Ok(line(mark))).await;
        }
        loop {
            tokio::select! {
                c = live.recv() => match c {
                    Ok(c) if c.rv > sent && relevant(&c) => {
                        sent = c.rv;
                        if tx.send(Ok(line(json!({"type": c.kind, "object": c.object})))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                _ = cut.recv() => return,
            }
        }
    });
    let body =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }));
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
