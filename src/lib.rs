#![forbid(unsafe_code)]

pub mod api;
pub mod config;
