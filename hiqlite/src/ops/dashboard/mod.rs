//! The dashboard: a small web page on the HTTP listener that shows the cluster (members, their
//! role, term, applied index and lag, the leader), this node's recent errors, and runs read-only
//! SQL with the results as a table (docs/operations.md#dashboard).
//!
//! - `session.rs`: the password check and the signed session cookie
//! - `members.rs`: every member asked for its status, one row each
//! - `sql.rs`: one read-only statement on this node's database, rows capped
//! - `page.html`, `app.js`, `style.css`: the page, embedded, no build step and nothing external
//! - here: the routes, and the session check in front of every JSON route
//!
//! Routes (all under `/dashboard`):
//! - `GET /dashboard`, `/dashboard/app.js`, `/dashboard/style.css`: the page (no data in it)
//! - `POST /dashboard/login` `{"password": "..."}`: 204 with the session cookie; 401 with
//!   `{"error": "..."}` for a wrong password
//! - `POST /dashboard/logout`: 204; the session is refused from then on and the cookie cleared
//! - `GET /dashboard/api/cluster`: [`ClusterView`] plus `recent_errors`; 401 without a session
//! - `POST /dashboard/api/query` `{"sql": "..."}`: [`QueryResult`]; 400 `{"error": "..."}` when
//!   the statement fails or would write; 401 without a session

mod members;
mod session;
mod sql;

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use self::session::{cookie_value, Sessions, COOKIE, SESSION_TTL};
use crate::config::Secret;
use crate::engine::recent_errors::RECENT_ERRORS_KEPT;
use crate::engine::Engine;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Only this page's own files run; it may not be framed.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// What the dashboard's handlers read.
struct Dashboard {
    engine: Arc<Engine>,
    sessions: Sessions,
    /// Served over HTTPS: the browser must send the session cookie over HTTPS only.
    https: bool,
}

impl Dashboard {
    /// The `Set-Cookie` value that sets the session cookie to `value` for `max_age_secs`.
    fn cookie(&self, value: &str, max_age_secs: u64) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
    }
}

/// The dashboard's routes for `engine`: `password` logs in, or `secret_api` when it is `None`;
/// `https` when served over TLS (the session cookie is then `Secure`). Without random bytes for
/// the session key, no routes (logged as a warning). The routes carry their own state, so they
/// merge into a router of any state `S`.
pub(super) fn routes<S>(engine: Arc<Engine>, password: Option<Secret>, https: bool) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let password = password.unwrap_or_else(|| engine.secret_api.clone());
    let sessions = match Sessions::new(password) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no random session key: the dashboard is not served");
            return Router::new();
        }
    };
    let state = Arc::new(Dashboard {
        engine,
        sessions,
        https,
    });
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/app.js", get(script))
        .route("/dashboard/style.css", get(style))
        .route("/dashboard/login", post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/api/cluster", get(cluster))
        .route("/dashboard/api/query", post(query))
        .with_state(state)
}

async fn page() -> Response {
    static_file("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    static_file("text/css; charset=utf-8", STYLE)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    password: String,
}

/// `POST /dashboard/login`: 204 with the session cookie, or 401.
async fn login(State(d): State<Arc<Dashboard>>, Json(form): Json<LoginForm>) -> Response {
    if !d.sessions.password_matches(&form.password) {
        return error(
            StatusCode::UNAUTHORIZED,
            "wrong password (password_dashboard, or secret_api when that is not set)",
        );
    }
    let token = match d.sessions.issue(SystemTime::now()) {
        Ok(t) => t,
        Err(e) => {
            let message = format!("no random bytes for a session: {e}");
            return error(StatusCode::INTERNAL_SERVER_ERROR, &message);
        }
    };
    let cookie = d.cookie(&token, SESSION_TTL.as_secs());
    (
        StatusCode::NO_CONTENT,
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// `POST /dashboard/logout`: revokes the session (if any) and clears the cookie; always 204.
async fn logout(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        d.sessions.revoke(token, SystemTime::now());
    }
    let cookie = d.cookie("", 0);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}

/// `GET /dashboard/api/cluster`.
async fn cluster(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if let Some(refused) = check_session(&d, &headers) {
        return refused;
    }
    let view = members::cluster_view(&d.engine).await;
    let body = serde_json::json!({
        "node_id": view.node_id,
        "leader_id": view.leader_id,
        "members": view.members,
        "recent_errors": d.engine.recent_errors.newest_first(),
        "recent_errors_kept": RECENT_ERRORS_KEPT,
    });
    no_store(Json(body))
}

#[derive(serde::Deserialize)]
struct QueryForm {
    sql: String,
}

/// `POST /dashboard/api/query`.
async fn query(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Json(form): Json<QueryForm>,
) -> Response {
    if let Some(refused) = check_session(&d, &headers) {
        return refused;
    }
    if form.sql.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "no SQL given");
    }
    match sql::run_query(&d.engine, form.sql).await {
        Ok(result) => no_store(Json(result)),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `None` when the request carries a valid session; otherwise the 401 to answer.
fn check_session(d: &Dashboard, headers: &HeaderMap) -> Option<Response> {
    match session_token(headers) {
        Some(token) if d.sessions.is_valid(token, SystemTime::now()) => None,
        _ => Some(error(StatusCode::UNAUTHORIZED, "log in first")),
    }
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| cookie_value(h, COOKIE))
}

fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

fn error(code: StatusCode, message: &str) -> Response {
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}
