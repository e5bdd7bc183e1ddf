//! The streaming L7 proxy: listeners, the request phases, filters and upstream connections.
//! It reads the IR only.

pub mod access_log;
pub mod drain;
pub mod error;
pub mod filters;
pub mod forward;
pub mod handler;
pub mod head_timeout;
pub mod listener;
pub mod normalize;
pub mod passthrough;
pub mod pipeline;
pub mod resource_metadata;
pub mod retry;
pub(crate) mod slots;
pub mod tls;
pub mod trace;
pub mod upstream;

pub use handler::{ConnInfo, Shared};

#[cfg(test)]
mod tests;
