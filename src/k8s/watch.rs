//! The watches: one per kind (per namespace, when the watched namespaces are named), each a
//! `kube` watcher that lists, then watches from the list's `resourceVersion`, re-lists when the
//! watch breaks or the server answers `410 Gone`, and backs off while the server is away. Every
//! change wakes one debouncer, which waits [`SETTLE`] for the rest of a burst and then sends the
//! whole set of resources, once every watch has listed. The data path never waits on the API
//! server: while it is away, the last snapshot keeps serving.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::kinds::{self, Watched};
use super::objects::{Objects, Update};
use crate::api::ResourceKind;

/// How long a burst of changes is gathered before a snapshot is built: a `kubectl apply` of many
/// objects becomes one reload, and a change shows within a second.
pub const SETTLE: Duration = Duration::from_millis(150);

/// What Kubernetes mode watches, and where its replicas elect the one that writes status.
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespaces watched (empty: every namespace). Cluster-scoped kinds are always watched.
    pub namespaces: Vec<String>,
    /// A label selector for Secrets and ConfigMaps (`None`: all of them in the watched
    /// namespaces).
    pub secret_selector: Option<String>,
    /// The namespace of the Lease the replicas elect a status writer on.
    pub lease_namespace: String,
    /// How long the Lease holds without renewal.
    pub lease_duration: Duration,
    /// The Service in front of the replicas (`namespace/name`), whose addresses the Gateways
    /// report when they name none.
    pub service: Option<String>,
}

/// A client from the in-cluster service account, or `KUBECONFIG` / `~/.kube/config` outside a
/// cluster.
pub async fn client() -> Result<kube::Client, String> {
    kube::Client::try_default().await.map_err(|e| format!("cannot configure a Kubernetes client: {e}"))
}

/// The API of one watch: a kind, in one namespace or in all.
fn api(client: &kube::Client, w: &Watched, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &w.resource),
        None => Api::all_with(client.clone(), &w.resource),
    }
}

/// An object as standalone mode would read it: `apiVersion` and `kind` set (list items carry
/// neither).
fn value_of(w: &Watched, object: DynamicObject) -> Value {
    let mut v = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("apiVersion".into(), Value::String(w.resource.api_version.clone()));
        map.insert("kind".into(), Value::String(w.resource.kind.clone()));
    }
    v
}

/// Starts every watch; the receiver gets the whole set of resources after each burst of
/// changes (the first once every watch has listed). The objects are shared with the status
/// writer, which compares with what they say.
pub fn start(client: kube::Client, options: &Options) -> (mpsc::Receiver<Update>, Arc<Objects>) {
    let mut watches = Vec::new();
    for w in kinds::all() {
        let scopes: Vec<Option<String>> = if w.kind.is_namespaced() && !options.namespaces.is_empty() {
            options.namespaces.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        let mut config = watcher::Config::default();
        if matches!(w.kind, ResourceKind::Secret | ResourceKind::ConfigMap)
            && let Some(selector) = &options.secret_selector
        {
            config = config.labels(selector);
        }
        for scope in scopes {
            watches.push((w.clone(), api(&client, &w, scope.as_deref()), config.clone()));
        }
    }
    let objects = Arc::new(Objects::new(watches.len()));
    let changed = Arc::new(Notify::new());
    for (slot, (w, api, config)) in watches.into_iter().enumerate() {
        tokio::spawn(watch_one(slot, w, api, config, objects.clone(), changed.clone()));
    }
    let (tx, rx) = mpsc::channel(1);
    let shared = objects.clone();
    tokio::spawn(async move {
        loop {
            changed.notified().await;
            tokio::time::sleep(SETTLE).await;
            if !objects.synced() {
                continue;
            }
            if tx.send(objects.update()).await.is_err() {
                return;
            }
        }
    });
    (rx, shared)
}

async fn watch_one(
    slot: usize,
    w: Watched,
    api: Api<DynamicObject>,
    config: watcher::Config,
    objects: Arc<Objects>,
    changed: Arc<Notify>,
) {
    let stream = watcher::watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => objects.begin(slot),
            Ok(Event::InitApply(o)) => objects.listed(slot, value_of(&w, o)),
            Ok(Event::InitDone) => {
                objects.listed_all(slot);
                changed.notify_one();
            }
            Ok(Event::Apply(o)) => {
                objects.put(slot, value_of(&w, o));
                changed.notify_one();
            }
            Ok(Event::Delete(o)) => {
                objects.remove(slot, &super::objects::key_of(&value_of(&w, o)));
                changed.notify_one();
            }
            Err(e) => tracing::warn!(kind = %w.kind, error = %e, "watch failed; retrying with backoff"),
        }
    }
}
