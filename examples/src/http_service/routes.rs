//! The HTTP routes: each handler runs queries from [`db`](super::db) and returns JSON.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /status` | this node's Raft view: id, role, leader |
//! | `POST /users` `{"name", "email"?}` | creates a user (201) |
//! | `GET /users/{id}[?consistent=true]` | one user, or 404 |
//! | `GET /users/{id}/todos[?consistent=true]` | the user's todos (empty for an unknown user) |
//! | `POST /users/{id}/todos` `{"title", "notes"?}` | creates a todo (201); 409 on a duplicate title or too many open todos, 422 on an empty title or an unknown user |
//! | `PATCH /todos/{id}` `{"status": "open" or "done"}` | changes a todo's status, or 404 |
//! | `DELETE /todos/{id}` | deletes a todo (204), or 404 |

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use hiqlite::client::NodeStatus;
use hiqlite::typed::{Query, Read};
use hiqlite::{Client, Error, FromRow};
use serde::Deserialize;

use super::db::{self, Status, Todo, User};
use super::error::ApiError;
use super::extract::{Id, JsonBody, ReadMode};

/// The service's routes, on top of one node's client.
pub fn router(client: Client) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/todos", get(list_todos).post(create_todo))
        .route("/todos/{id}", patch(update_todo).delete(delete_todo))
        .with_state(client)
}

/// Runs a read the way the request asked for.
async fn fetch_all<T: FromRow + Send + 'static>(
    query: Query<Read, T>,
    client: &Client,
    mode: ReadMode,
) -> Result<Vec<T>, Error> {
    if mode.consistent {
        query.fetch_all_consistent(client).await
    } else {
        query.fetch_all(client).await
    }
}

async fn fetch_optional<T: FromRow + Send + 'static>(
    query: Query<Read, T>,
    client: &Client,
    mode: ReadMode,
) -> Result<Option<T>, Error> {
    if mode.consistent {
        query.fetch_optional_consistent(client).await
    } else {
        query.fetch_optional(client).await
    }
}

async fn status(State(client): State<Client>) -> Result<Json<NodeStatus>, ApiError> {
    Ok(Json(client.status().await?))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    email: Option<String>,
}

async fn create_user(
    State(client): State<Client>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if new.name.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must not be empty",
        ));
    }
    // A write: goes through Raft from whichever node took the request.
    let user = db::insert_user(&new.name, new.email.as_deref())
        .fetch_one(&client)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn get_user(
    State(client): State<Client>,
    Id(id): Id,
    mode: ReadMode,
) -> Result<Json<User>, ApiError> {
    match fetch_optional(db::user(id), &client, mode).await? {
        Some(user) => Ok(Json(user)),
        None => Err(ApiError::not_found(format!("no user {id}"))),
    }
}

async fn list_todos(
    State(client): State<Client>,
    Id(user_id): Id,
    mode: ReadMode,
) -> Result<Json<Vec<Todo>>, ApiError> {
    Ok(Json(fetch_all(db::todos_of(user_id), &client, mode).await?))
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
    notes: Option<String>,
}

async fn create_todo(
    State(client): State<Client>,
    Id(user_id): Id,
    JsonBody(new): JsonBody<NewTodo>,
) -> Result<(StatusCode, Json<Todo>), ApiError> {
    let todo = db::create_todo(&client, user_id, &new.title, new.notes.as_deref())
        .await
        .map_err(|e| match e {
            Error::Sql(hiqlite::SqlError::GuardFailed { .. }) => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "user {user_id} already has {} open todos",
                    db::MAX_OPEN_TODOS
                ),
            ),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(todo)))
}

#[derive(Deserialize)]
struct TodoUpdate {
    status: Status,
}

async fn update_todo(
    State(client): State<Client>,
    Id(id): Id,
    JsonBody(update): JsonBody<TodoUpdate>,
) -> Result<Json<Todo>, ApiError> {
    match db::set_status(id, update.status)
        .fetch_optional(&client)
        .await?
    {
        Some(todo) => Ok(Json(todo)),
        None => Err(ApiError::not_found(format!("no todo {id}"))),
    }
}

async fn delete_todo(State(client): State<Client>, Id(id): Id) -> Result<StatusCode, ApiError> {
    let result = db::delete_todo(id).execute(&client).await?;
    if result.rows_affected == 0 {
        return Err(ApiError::not_found(format!("no todo {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
