//! One file per HTTPRoute filter.

pub mod cors;
pub mod headers;
pub mod mirror;
pub mod redirect;
pub mod rewrite;
