//! The conformance corpus in Kubernetes mode (`SLUICE_CONFORMANCE_MODE=kubernetes`): each case's
//! manifests are written to a fake API server (`support::fake_kube`); the gateway's runtime is
//! fed by Kubernetes mode's own watches and writes status back through its own status writer;
//! the harness reads status from the fake, not from the runtime. Only where the resources come
//! from and where status goes differ from the standalone run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::ir::status::{ResourceStatus, StatusMeta};
use sluice::runtime::Runtime;
use tokio::sync::watch;

use crate::support::fake_kube::FakeKube;

/// Whether this run is in Kubernetes mode.
pub fn selected() -> bool {
    std::env::var("SLUICE_CONFORMANCE_MODE").is_ok_and(|m| m == "kubernetes")
}

/// `kind namespace/name` → the resourceVersion the gateway last applied.
type Applied = BTreeMap<String, u64>;

pub struct Cluster {
    pub fake: FakeKube,
    /// The objects written so far, by `kind namespace/name` (to delete those a later apply drops).
    written: Mutex<BTreeMap<String, Value>>,
    applied: watch::Receiver<Applied>,
}

fn id(kind: &str, ns: Option<&str>, name: &str) -> String {
    format!("{kind} {}/{name}", ns.unwrap_or_default())
}

fn id_of(v: &Value) -> String {
    let ns = crate::support::fake_kube::namespace_of(v);
    id(v["kind"].as_str().unwrap_or_default(), ns.as_deref(), v["metadata"]["name"].as_str().unwrap_or_default())
}

impl Cluster {
    /// A fake API server, and `rt` fed by watches of it (status written back to it).
    pub async fn start(rt: Arc<Runtime>) -> Result<Cluster, String> {
        let fake = FakeKube::start().await;
        let url: http::Uri = format!("http://{}", fake.addr).parse().map_err(|e| format!("fake URL: {e}"))?;
        let client = kube::Client::try_from(kube::Config::new(url)).map_err(|e| format!("kube client: {e}"))?;
        let options = sluice::k8s::Options {
            namespaces: Vec::new(),
            secret_selector: None,
            lease_namespace: "default".into(),
            lease_duration: Duration::from_secs(15),
            service: None,
        };
        let (mut updates, objects) = sluice::k8s::start(client.clone(), &options);
        let writer =
            sluice::k8s::StatusWriter::new(client, objects, sluice::ir::status::CONTROLLER_NAME, "conformance");
        let (tx, applied) = watch::channel(Applied::new());
        tokio::spawn(async move {
            while let Some(update) = updates.recv().await {
                for e in &update.errors {
                    eprintln!("kubernetes mode: object left out: {e}");
                }
                let seen: Applied = update
                    .resources
                    .iter()
                    .map(|r| {
                        let m = r.meta();
                        let ns = r.resource_kind().is_namespaced().then(|| m.namespace());
                        let rv = m.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
                        (id(r.kind(), ns, m.name()), rv)
                    })
                    .collect();
                let snapshot = rt.apply(update.resources).await;
                writer.write(&sluice::runtime::cluster_statuses(&snapshot, &update.errors, &writer)).await;
                let _ = tx.send(seen);
            }
        });
        Ok(Cluster { fake, written: Mutex::new(BTreeMap::new()), applied })
    }

    /// Makes the fake hold exactly `docs` (creating, replacing, deleting), then waits until the
    /// gateway has applied a snapshot of them (and written its status).
    pub async fn apply(&self, docs: &[Value]) -> Result<(), String> {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        let mut gone = Vec::new();
        {
            let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: Vec<String> = docs.iter().map(id_of).collect();
            for (key, doc) in written.iter() {
                if !ids.contains(key) {
                    self.fake.delete_value(doc);
                    gone.push(key.clone());
                }
            }
            written.retain(|k, _| !gone.contains(k));
            for d in docs {
                let before = self.fake.get_value(d);
                let same = before.as_ref().is_some_and(|b| same_object(b, d));
                if !same {
                    self.fake.apply(d.clone());
                }
                let stored = self.fake.get_value(d).ok_or_else(|| format!("the fake lost {}", id_of(d)))?;
                let rv = stored["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
                want.insert(id_of(d), rv);
                written.insert(id_of(d), d.clone());
            }
        }
        let mut applied = self.applied.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let seen = applied.borrow_and_update();
                // Kinds the gateway does not watch never show.
                let caught_up = want.iter().all(|(k, rv)| match seen.get(k) {
                    Some(s) => s >= rv,
                    None => !watched(k),
                }) && gone.iter().all(|k| !seen.contains_key(k));
                if caught_up {
                    return Ok(());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("kubernetes mode: the gateway did not catch up with the fake within 30 s".into());
            }
            let _ = tokio::time::timeout(left, applied.changed()).await;
        }
    }

    /// Every object's status, as the fake holds it.
    pub fn status(&self) -> Vec<ResourceStatus> {
        self.fake
            .all()
            .into_iter()
            .filter(|o| o.get("status").is_some_and(|s| !s.is_null()))
            .map(|o| {
                let m = &o["metadata"];
                ResourceStatus {
                    api_version: o["apiVersion"].as_str().unwrap_or_default().to_string(),
                    kind: o["kind"].as_str().unwrap_or_default().to_string(),
                    metadata: StatusMeta {
                        name: m["name"].as_str().unwrap_or_default().to_string(),
                        namespace: m["namespace"].as_str().map(str::to_string),
                        generation: m["generation"].as_i64().unwrap_or(0),
                    },
                    status: o["status"].clone(),
                }
            })
            .collect()
    }
}

/// Whether the gateway watches the kind of `id` (`Kind namespace/name`).
fn watched(id: &str) -> bool {
    id.split(' ').next().and_then(sluice::api::ResourceKind::from_kind).is_some()
}

/// Whether the fake's `stored` object is `doc` (ignoring what the server adds).
fn same_object(stored: &Value, doc: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in ["resourceVersion", "uid", "generation", "namespace"] {
                    meta.remove(k);
                }
            }
        }
        v
    };
    strip(stored) == strip(doc)
}
