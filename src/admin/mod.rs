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
        .route("/usage", get(usage))
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

/// Rows of `/usage` unless `?top=N` asks for another number (at most [`MAX_TOP`]).
const DEFAULT_TOP: usize = 20;
const MAX_TOP: usize = 1000;

/// Tokens and spend by identity, largest spenders first (`?top=N`).
async fn usage(State(rt): State<Arc<Runtime>>, uri: axum::http::Uri) -> Response {
    let asked = uri.query().unwrap_or_default().split('&').find_map(|kv| kv.strip_prefix("top="));
    let top = match asked.map(str::parse::<usize>) {
        None => DEFAULT_TOP,
        Some(Ok(n)) => n.min(MAX_TOP),
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, format!("top must be a whole number from 0 to {MAX_TOP}\n"))
                .into_response();
        }
    };
    json(&rt.metrics().usage.top(top))
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
