//! The seam between the proxy core and the pipelines above it. The proxy routes a request and
//! runs the rule's filters; a rule whose backends are AIBackends or MCPBackends (decided at
//! translation: [`RulePipeline`](crate::ir::route::RulePipeline)) is then handed to the
//! pipeline registered for that kind. The proxy owns this interface and never names a
//! pipeline: the runtime builds them and hands them in.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Response;
use http::request::Parts;
use hyper::body::Incoming;

use crate::httpkit::body::ProxyBody;
use crate::ir::Snapshot;
use crate::ir::ai::AiBackendIr;
use crate::ir::mcp::McpRoute;
use crate::ir::policy::PolicyIr;
use crate::policy::{Admitted, Denial, Peer};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the proxy knows of a request besides its head, handed to the pipeline with it: where it
/// came from and, under a policy that admitted it, who the client is. An argument, not request
/// extensions (each of those costs allocations, on every request).
#[derive(Clone, Copy)]
pub struct Handoff<'a> {
    pub peer: Peer,
    pub admitted: Option<&'a Admitted>,
    /// The request's span, when traces are on.
    pub span: Option<&'a crate::metrics::trace::TraceSpan>,
}

/// A pipeline serving the rules whose backends are of its kind (`T` is what the snapshot
/// resolved for such a rule). Every failure is answered in the pipeline's own client format.
pub trait Pipeline<T: ?Sized>: Send + Sync {
    fn serve<'a>(
        &'a self,
        target: &'a T,
        parts: &'a Parts,
        handoff: Handoff<'a>,
        body: Incoming,
    ) -> BoxFuture<'a, Response<ProxyBody>>;

    /// A request the policy layer refused, answered in the pipeline's clients' format.
    fn deny(&self, denial: &Denial, _parts: &Parts, _peer: Peer, _policy: &PolicyIr) -> Response<ProxyBody> {
        denial.to_response()
    }

    /// A new snapshot is live: drop state kept for what it no longer has.
    fn snapshot_changed(&self, _snapshot: &Snapshot) {}

    /// The process stops (after its drain): end what the pipeline started (processes, sessions).
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The pipelines of the running gateway.
#[derive(Clone)]
pub struct Pipelines {
    pub ai: Arc<dyn Pipeline<[Arc<AiBackendIr>]>>,
    pub mcp: Arc<dyn Pipeline<McpRoute>>,
}

impl Pipelines {
    pub fn snapshot_changed(&self, snapshot: &Snapshot) {
        self.ai.snapshot_changed(snapshot);
        self.mcp.snapshot_changed(snapshot);
    }

    pub async fn stop(&self) {
        self.ai.stop().await;
        self.mcp.stop().await;
    }
}
