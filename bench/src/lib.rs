//! The benchmark harness of issue 5 (see `bench/README.md`): a fast upstream, the proxies under
//! test started pinned to one CPU, load generators on another, and `RESULTS.md`.

pub mod config_scale;
pub mod load;
pub mod machine;
pub mod mcp_load;
pub mod memory;
pub mod procs;
pub mod profile;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod soak;
pub mod streaming;
pub mod targets;
pub mod upstream;
