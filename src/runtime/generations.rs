//! Standalone mode has no API server to count generations: a resource's `metadata.generation`
//! starts at 1 (or what the file says) and goes up by one each time its spec changes between
//! loads. Its creation time is when it was first seen, so route precedence by age holds. In a
//! cluster the API server's generation is the object's own; an object deleted and made again
//! (another `metadata.uid`) starts over, as the server's count does.

use std::collections::HashMap;

use crate::api::Resource;
use crate::ir::status::now_rfc3339;

#[derive(Default)]
pub struct Generations {
    seen: HashMap<String, Seen>,
}

struct Seen {
    /// The object's `metadata.uid`, when it has one (objects from an API server).
    uid: Option<String>,
    spec: String,
    generation: i64,
    created: String,
}

impl Generations {
    pub fn assign(&mut self, resources: &mut [Resource]) {
        let now = now_rfc3339();
        for r in resources.iter_mut() {
            let key = format!("{}/{}/{}", r.kind(), r.meta().namespace(), r.meta().name());
            let spec = spec_fingerprint(r);
            let given = r.meta().generation;
            let uid = r.meta().uid.clone();
            let fresh =
                || Seen { uid: uid.clone(), spec: spec.clone(), generation: given.unwrap_or(1), created: now.clone() };
            let entry = self.seen.entry(key).or_insert_with(fresh);
            if entry.uid != uid {
                *entry = fresh();
            }
            if entry.spec != spec {
                entry.spec = spec;
                entry.generation = given.map_or(entry.generation + 1, |g| g.max(entry.generation + 1));
            }
            let meta = r.meta_mut();
            meta.generation = Some(entry.generation);
            if meta.creation_timestamp.is_none() {
                meta.creation_timestamp = Some(entry.created.clone());
            }
        }
    }
}

/// Everything but metadata and status: what bumps a generation.
fn spec_fingerprint(r: &Resource) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(uid: Option<&str>, generation: Option<i64>, host: &str) -> Resource {
        let mut v = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"hostnames": [host]}
        });
        if let Some(u) = uid {
            v["metadata"]["uid"] = serde_json::json!(u);
        }
        if let Some(g) = generation {
            v["metadata"]["generation"] = serde_json::json!(g);
        }
        Resource::from_value(v).expect("a route")
    }

    fn generation_of(g: &mut Generations, r: Resource) -> i64 {
        let mut rs = [r];
        g.assign(&mut rs);
        rs[0].meta().generation()
    }

    #[test]
    fn files_count_spec_changes_and_clusters_start_over_with_a_new_object() {
        let mut g = Generations::default();
        assert_eq!(generation_of(&mut g, route(None, None, "a")), 1);
        assert_eq!(generation_of(&mut g, route(None, None, "a")), 1, "same spec");
        assert_eq!(generation_of(&mut g, route(None, None, "b")), 2, "a file's spec changed");
        // From an API server: its generation; a deleted and recreated object starts over.
        assert_eq!(generation_of(&mut g, route(Some("u1"), Some(7), "c")), 7);
        assert_eq!(generation_of(&mut g, route(Some("u1"), Some(8), "d")), 8);
        assert_eq!(generation_of(&mut g, route(Some("u2"), Some(1), "e")), 1, "another object of the same name");
    }
}
