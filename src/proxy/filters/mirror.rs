//! The RequestMirror filter: a copy of the request goes to another backend, its answer ignored.

use std::sync::Arc;

use bytes::Bytes;

use crate::httpkit::body;
use crate::ir::BackendTarget;
use crate::ir::filter::Mirror;
use crate::proxy::forward::{self, OutboundHead};
use crate::proxy::upstream::Pools;

/// The longest a mirrored request (its whole answer) may take before it is dropped, unless a
/// TrafficPolicy's `timeouts.mirror` says otherwise.
pub const MIRROR_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends the copy in the background when this request falls in the mirrored share; it is
/// dropped after `deadline`.
pub fn spawn(
    pools: &Arc<Pools>,
    mirror: &Mirror,
    head: &OutboundHead,
    body: Option<Bytes>,
    deadline: std::time::Duration,
) {
    if mirror.fraction < 1.0 && rand::random::<f64>() >= mirror.fraction {
        return;
    }
    let BackendTarget::Upstream(upstream) = &mirror.backend.target else {
        return;
    };
    let upstream = upstream.clone();
    let pools = pools.clone();
    let mut head = head.clone();
    head.upgrade = false;
    tokio::spawn(async move {
        let b = body.map_or_else(body::empty, body::full);
        let headers = head.headers.clone();
        let mirrored = async {
            let resp = forward::send(&pools, &upstream, &head, headers, b).await.map_err(|e| e.to_string())?;
            // Drained (not kept) so the connection can be reused; a mirror never holds memory.
            let mut body = resp.into_body();
            use http_body_util::BodyExt;
            while let Some(frame) = body.frame().await {
                frame.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        };
        match crate::httpkit::deadline::within(deadline, mirrored, |d| format!("no answer within {d:?}")).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "mirror request failed"),
        }
    });
}
