//! The RequestMirror filter: a copy of the request goes to another backend, its answer ignored.

use std::sync::Arc;

use bytes::Bytes;

use crate::httpkit::body;
use crate::ir::BackendTarget;
use crate::ir::filter::Mirror;
use crate::proxy::forward::{self, OutboundHead};
use crate::proxy::upstream::Pools;

/// Sends the copy in the background when this request falls in the mirrored share.
pub fn spawn(pools: &Arc<Pools>, mirror: &Mirror, head: &OutboundHead, body: Option<Bytes>) {
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
        match forward::send(&pools, &upstream, &head, headers, b).await {
            Ok(resp) => {
                // Drain the answer so the connection can be reused.
                use http_body_util::BodyExt;
                let _ = resp.into_body().collect().await;
            }
            Err(e) => tracing::debug!(error = %e, "mirror request failed"),
        }
    });
}
