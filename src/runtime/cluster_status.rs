//! What Kubernetes mode writes back of a snapshot: every resource status the translation
//! reports, and a status for each object that could not be read (where one is written).

use crate::ir::Snapshot;
use crate::k8s::{ObjectStatus, StatusWriter, Unreadable};

/// The statuses to write for `snapshot`, and for the objects the update left out.
pub fn cluster_statuses(snapshot: &Snapshot, unreadable: &[Unreadable], writer: &StatusWriter) -> Vec<ObjectStatus> {
    let mut statuses: Vec<ObjectStatus> = snapshot
        .status
        .resources
        .iter()
        .map(|r| ObjectStatus {
            kind: r.kind.clone(),
            namespace: r.metadata.namespace.clone(),
            name: r.metadata.name.clone(),
            status: r.status.clone(),
        })
        .collect();
    statuses.extend(crate::k8s::status::unreadable(unreadable, writer.objects(), writer.controller()));
    statuses
}
