//! Kubernetes mode's loading (`sluice run --kubernetes`): the same resources standalone mode
//! reads from files, read from the API server by watches instead, and fed to the same
//! translation (docs/kubernetes.md). Only where resources come from differs.

pub mod kinds;
pub mod lease;
mod objects;
pub mod status;
pub mod watch;

pub use lease::{LeaseConfig, elect, identity};
pub use objects::{Objects, Unreadable, Update};
pub use status::{ObjectStatus, STATUS_KINDS, StatusWriter, Written};
pub use watch::{Options, SETTLE, client, start};
