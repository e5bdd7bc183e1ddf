//! Talking to backends: connections, TLS and pools.

pub mod io;
pub mod pool;

pub use pool::Pools;
