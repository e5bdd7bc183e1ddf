//! Test-support code shared by the integration tests (`mod support;`).
//!
//! - [`echo`]: a Rust stand-in for the Gateway API conformance echo backend (echo-basic).
//! - [`tls`]: the TLS Secrets and CA ConfigMaps the conformance suite creates at setup.
//! - [`pem`]: PEM encoding in the exact layout Go's `encoding/pem` writes.
//! - [`gateway`]: an in-process gateway and raw HTTP/1.1 requests to it.
//! - [`h2raw`]: raw HTTP/2 frames, for what client libraries never send.
//! - [`fake_kube`]: a fake Kubernetes API server (list, watch, 410, faults).

// Every integration test compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod cdp;
pub mod echo;
pub mod fake_kube;
pub mod fake_llm;
pub mod gateway;
pub mod h2raw;
pub mod pem;
pub mod process;
pub mod tls;
pub mod yaml;
