//! Errors as HTTP responses: a status code and a JSON body `{"error": "..."}`.
//!
//! Database errors are mapped by what they mean to the caller: no row is 404, a broken
//! uniqueness rule or a failed guard is 409, any other broken constraint is 422, and a cluster
//! that cannot take the request right now (no leader, shutting down) is 503.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hiqlite::{ConstraintKind, Error, SqlError};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: &self.message,
        });
        (self.status, body).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NoRows => StatusCode::NOT_FOUND,
            Error::Sql(SqlError::GuardFailed { .. }) => StatusCode::CONFLICT,
            // The kind comes from SQLite's result code, not from the message text.
            Error::Sql(SqlError::Constraint {
                kind: ConstraintKind::Unique | ConstraintKind::PrimaryKey,
                ..
            }) => StatusCode::CONFLICT,
            Error::Sql(SqlError::Constraint { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            // `OutcomeUnknown`: the write may still be applied; the body says so, so a client
            // checks before repeating it.
            Error::NoLeader(_)
            | Error::OutcomeUnknown(_)
            | Error::Removed { .. }
            | Error::ShuttingDown
            | Error::Timeout(_)
            | Error::Network(_)
            | Error::Raft(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Every statement was checked at build time, so this is a bug or a broken node:
            // log the details, do not hand them to the caller.
            eprintln!("internal error: {e}");
            return ApiError::new(status, "internal error");
        }
        ApiError::new(status, e.to_string())
    }
}

// Bad input that axum rejects before a handler runs (malformed JSON, `/users/abc`, a bad query
// string) gets the same JSON body, with axum's status (400 or 422) and message.
impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}
