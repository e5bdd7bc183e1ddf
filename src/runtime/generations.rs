//! Standalone mode has no API server to count generations: a resource's `metadata.generation`
//! starts at 1 (or what the file says) and goes up by one each time its spec changes between
//! loads. Its creation time is when it was first seen, so route precedence by age holds.

use std::collections::HashMap;

use crate::api::Resource;
use crate::ir::status::now_rfc3339;

#[derive(Default)]
pub struct Generations {
    seen: HashMap<String, Seen>,
}

struct Seen {
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
            let entry = self.seen.entry(key).or_insert_with(|| Seen {
                spec: spec.clone(),
                generation: given.unwrap_or(1),
                created: now.clone(),
            });
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
