//! Typed resources: the Gateway API kinds Sluice implements and the core
//! Kubernetes kinds they refer to. Parsing only; meaning is given in `ir`.

pub mod aibackend;
pub mod backendtls;
pub mod core;
pub mod crds;
pub mod gateway;
pub mod gatewayclass;
pub mod httproute;
pub mod httproute_filter;
pub mod mcpbackend;
pub mod meta;
pub mod referencegrant;
pub mod refs;
pub mod resource;
pub mod tlsroute;
pub mod trafficpolicy;

pub use self::aibackend::*;
pub use self::backendtls::*;
pub use self::core::*;
pub use self::gateway::*;
pub use self::gatewayclass::*;
pub use self::httproute::*;
pub use self::httproute_filter::*;
pub use self::mcpbackend::*;
pub use self::meta::*;
pub use self::referencegrant::*;
pub use self::refs::*;
pub use self::resource::*;
pub use self::tlsroute::*;
pub use self::trafficpolicy::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
