//! The admin plane: health, readiness, the IR as JSON, resource status, OpenMetrics metrics and
//! the dashboard (`/ui`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::runtime::Runtime;

mod ui;

pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/config_dump", get(config_dump))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/budgets", get(budgets))
        .merge(ui::router())
        .with_state(runtime)
}

/// Serves the admin plane on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, runtime: Arc<Runtime>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(runtime)).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(bound)
}

async fn readyz(State(rt): State<Arc<Runtime>>) -> Response {
    if rt.draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else if rt.snapshot().version > 0 {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no configuration loaded yet\n").into_response()
    }
}

fn json(v: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(v) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body + "\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("serialisation failed: {e}\n")).into_response(),
    }
}

/// The snapshot being served. Certificates and keys never appear in it.
async fn config_dump(State(rt): State<Arc<Runtime>>) -> Response {
    json(&*rt.snapshot())
}

async fn budgets(State(rt): State<Arc<Runtime>>) -> Response {
    json(&serde_json::json!({"budgets": rt.budgets()}))
}

async fn status(State(rt): State<Arc<Runtime>>) -> Response {
    let snapshot = rt.snapshot();
    json(&serde_json::json!({
        "config": rt.reload_state(),
        "problems": snapshot.status.problems(),
        "resources": snapshot.status.resources,
        "mcp_targets": rt.mcp_targets(),
    }))
}

async fn metrics(State(rt): State<Arc<Runtime>>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], rt.render_metrics()).into_response()
}
