//! Sluice: an AI- and MCP-first API gateway with a streaming L7 proxy core.
#![forbid(unsafe_code)]

pub mod admin;
pub mod ai;
pub mod api;
pub mod catalog;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod httpkit;
pub mod ir;
pub mod k8s;
pub mod mcp;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod runtime;
pub mod store;
