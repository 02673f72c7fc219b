//! Operating a node over HTTP: `/health`, `/ready`, Prometheus `/metrics` and the
//! dashboard, served by axum on `http_addr` when it is set (docs/operations.md).
//!
//! - `auth.rs`: the `/metrics` bearer token, compared in constant time
//! - `ready.rs`: what makes a node ready, judged from facts plus a read barrier
//! - `prometheus.rs`: the node's own recorder, the engine's handles, the exposition text
//! - `dashboard/`: the web page at `/dashboard` and its JSON routes, behind a log-in
//! - here: the routes and the server, which stops with the node's shutdown signal
//!
//! Sits above `engine`, like `backup/`; `node` wires it. Nothing below imports it.

mod auth;
mod dashboard;
mod https;
pub(crate) mod prometheus;
mod ready;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::prometheus::NodeMetrics;
use self::ready::{judge, worth_a_barrier, Facts, READY_TIMEOUT};
use crate::engine::Engine;

/// What the handlers read: the node's engine and its metrics.
pub(crate) struct Ops {
    pub engine: Arc<Engine>,
    pub metrics: NodeMetrics,
    /// What logs in to the dashboard; `None`: `secret_api` (see `dashboard`).
    pub password_dashboard: Option<crate::config::Secret>,
}

/// The routes, for `serve` and for tests; `https` when served over TLS (the dashboard's cookie
/// is then marked `Secure`).
fn router(ops: Arc<Ops>, https: bool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(dashboard::routes(
            ops.engine.clone(),
            ops.password_dashboard.clone(),
            https,
        ))
        .with_state(ops)
}

/// Serves the routes on `listener` until `shutdown` turns true, then stops accepting and lets
/// requests in flight finish; over HTTPS with `tls` (the API certificate). An accept or
/// connection error is logged and does not stop the server.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<crate::net::TlsServer>,
    ops: Arc<Ops>,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let scheme = if tls.is_some() { "HTTPS" } else { "HTTP" };
    tracing::info!(
        ?addr,
        "{scheme} listener for /health, /ready, /metrics started"
    );
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let served = match tls {
        None => {
            axum::serve(listener, router(ops, false))
                .with_graceful_shutdown(stop)
                .await
        }
        Some(tls) => match https::TlsListener::new(listener, tls) {
            Ok(listener) => {
                axum::serve(listener, router(ops, true))
                    .with_graceful_shutdown(stop)
                    .await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::warn!(error = %e, "the {scheme} listener stopped");
    }
}

/// `GET /health`: 200 `{"status":"ok","node_id":N}` while the process runs.
async fn health(State(ops): State<Arc<Ops>>) -> Response {
    Json(serde_json::json!({"status": "ok", "node_id": ops.engine.node_id})).into_response()
}

/// `GET /ready`: 200 when ready, 503 otherwise; the body says why (see `ready`).
async fn ready(State(ops): State<Arc<Ops>>) -> Response {
    let engine = &ops.engine;
    let status = engine.status();
    let committed = {
        use openraft::async_runtime::WatchReceiver;
        let watch = engine.raft.metrics();
        let m = watch.borrow_watched();
        [m.cluster_committed, m.local_committed]
            .iter()
            .flatten()
            .map(|l| l.index())
            .max()
            .unwrap_or(0)
    };
    let facts = Facts {
        node_id: engine.node_id,
        member: !status.removed
            && (status.voters.contains(&engine.node_id)
                || status.learners.contains(&engine.node_id)),
        leader_id: status.leader_id,
        applied_index: status.last_applied,
        committed_index: committed,
    };
    let barrier = if worth_a_barrier(&facts) {
        Some(
            match tokio::time::timeout(READY_TIMEOUT, engine.linearize()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_string()),
            },
        )
    } else {
        None
    };
    let readiness = judge(&facts, barrier);
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness)).into_response()
}

/// `GET /metrics`: the Prometheus text exposition, with `Authorization: Bearer <secret_api>`;
/// 401 with `WWW-Authenticate: Bearer` otherwise.
async fn metrics(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if !auth::bearer_matches(given, &ops.engine.secret_api) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"hiqlite\"")],
            "401 Unauthorized: send Authorization: Bearer <secret_api>\n",
        )
            .into_response();
    }
    let text = ops.metrics.render(&ops.engine);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
