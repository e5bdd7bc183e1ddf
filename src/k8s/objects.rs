//! What the watches have seen: per watch, the objects by namespace and name, as JSON. A watch
//! that (re)lists collects the list apart and replaces its objects with it once whole, so a
//! re-list after a broken watch or a `410 Gone` neither loses nor keeps a stale object. Turned
//! into typed resources only when a snapshot is built: an object that does not parse is
//! reported and left out, never fatal.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::api::Resource;

/// One watch's objects.
#[derive(Default)]
struct Slot {
    /// Whether the first list has been received whole.
    synced: bool,
    objects: BTreeMap<String, Value>,
    /// A list being received.
    listing: Option<BTreeMap<String, Value>>,
}

/// Every watch's objects.
pub struct Objects {
    slots: Mutex<Vec<Slot>>,
}

/// The resources of every watch, and the objects that could not be read.
#[derive(Debug, Default)]
pub struct Update {
    pub resources: Vec<Resource>,
    /// One per object left out.
    pub errors: Vec<Unreadable>,
}

/// An object left out: it does not parse as its kind.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The object as the API server gave it.
    pub object: Value,
    pub message: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.object["kind"].as_str().unwrap_or("object"), key_of(&self.object), self.message)
    }
}

/// `namespace/name` (or `name`) of an object.
pub fn key_of(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

impl Objects {
    pub fn new(watches: usize) -> Objects {
        Objects { slots: Mutex::new((0..watches).map(|_| Slot::default()).collect()) }
    }

    fn with<T>(&self, slot: usize, f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get_mut(slot).map(f)
    }

    /// A list begins.
    pub fn begin(&self, slot: usize) {
        self.with(slot, |s| s.listing = Some(BTreeMap::new()));
    }

    /// An object of the list being received.
    pub fn listed(&self, slot: usize, object: Value) {
        self.with(slot, |s| {
            if let Some(l) = s.listing.as_mut() {
                l.insert(key_of(&object), object);
            }
        });
    }

    /// The list is whole: it replaces what the watch had.
    pub fn listed_all(&self, slot: usize) {
        self.with(slot, |s| {
            if let Some(l) = s.listing.take() {
                s.objects = l;
            }
            s.synced = true;
        });
    }

    /// An object was added or changed.
    pub fn put(&self, slot: usize, object: Value) {
        self.with(slot, |s| s.objects.insert(key_of(&object), object));
    }

    /// An object was deleted.
    pub fn remove(&self, slot: usize, key: &str) {
        self.with(slot, |s| s.objects.remove(key));
    }

    /// The object of `kind` at `key` (`namespace/name`, or `name`), as last seen.
    pub fn get(&self, kind: &str, key: &str) -> Option<Value> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.iter().find_map(|s| s.objects.get(key).filter(|v| v["kind"] == kind).cloned())
    }

    /// Every object of `kind`, as last seen.
    pub fn of_kind(&self, kind: &str) -> Vec<Value> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.iter().flat_map(|s| s.objects.values()).filter(|v| v["kind"] == kind).cloned().collect()
    }

    /// Whether every watch has listed once.
    pub fn synced(&self) -> bool {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).iter().all(|s| s.synced)
    }

    /// Every object as a typed resource; those that do not parse, as errors.
    pub fn update(&self) -> Update {
        let values: Vec<Value> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.iter().flat_map(|s| s.objects.values().cloned()).collect()
        };
        let mut out = Update::default();
        for v in values {
            match Resource::from_value(v.clone()) {
                Ok(r) => out.resources.push(r),
                Err(e) => out.errors.push(Unreadable { object: v, message: e.to_string() }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7", "uid": "u"},
            "spec": {"ports": [{"port": 80}]}
        })
    }

    #[test]
    fn a_relist_replaces_what_the_watch_had() {
        let o = Objects::new(2);
        o.begin(0);
        o.listed(0, service("a"));
        o.listed(0, service("b"));
        assert!(o.update().resources.is_empty(), "a list counts once whole");
        o.listed_all(0);
        assert!(!o.synced(), "the other watch has not listed");
        o.begin(1);
        o.listed_all(1);
        assert!(o.synced());
        assert_eq!(o.update().resources.len(), 2);
        // The watch broke and re-listed: b was deleted meanwhile.
        o.begin(0);
        o.listed(0, service("a"));
        o.put(0, service("c"));
        o.listed_all(0);
        let names: Vec<String> = o.update().resources.iter().map(|r| r.meta().name().to_string()).collect();
        assert_eq!(names, ["a"], "the list replaces the objects, an event during it included");
        o.put(0, service("c"));
        o.remove(0, "default/a");
        let names: Vec<String> = o.update().resources.iter().map(|r| r.meta().name().to_string()).collect();
        assert_eq!(names, ["c"]);
    }

    #[test]
    fn an_object_that_does_not_parse_is_left_out_and_named() {
        let o = Objects::new(1);
        o.put(0, service("good"));
        let mut bad = service("bad");
        bad["spec"]["ports"] = serde_json::json!("eighty");
        o.put(0, bad);
        let u = o.update();
        assert_eq!(u.resources.len(), 1);
        assert_eq!(u.errors.len(), 1);
        assert!(u.errors[0].to_string().starts_with("Service default/bad: "), "{}", u.errors[0]);
    }
}
