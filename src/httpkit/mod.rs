//! HTTP mechanisms written once and shared by the proxy core and every pipeline: the body type
//! of the data path and its limited reads, SSE framing and the bounds of SSE read from peers,
//! deadlines, idle bounds on bodies and weighted choice. Nothing here knows a route, a provider
//! or a pipeline (docs/architecture.md).

pub mod body;
pub mod deadline;
pub mod idle;
pub mod observe;
pub mod sse;
pub mod sse_bounds;
pub mod weighted;
