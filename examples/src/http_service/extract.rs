//! Request extractors whose rejections are [`ApiError`]s, so bad input (malformed JSON,
//! `/users/abc`, `?consistent=maybe`) gets the same JSON error body as everything else.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;

/// The `{id}` of the route, an integer.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Id(id))
    }
}

/// A JSON request body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(body) = Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(body))
    }
}

/// How a GET reads: locally (the default: no network, may trail the leader by a few
/// milliseconds) or, with `?consistent=true`, linearizably (sees every completed write).
#[derive(Deserialize, Default, Clone, Copy)]
pub struct ReadMode {
    #[serde(default)]
    pub consistent: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for ReadMode {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(mode) = Query::<ReadMode>::from_request_parts(parts, state).await?;
        Ok(mode)
    }
}
