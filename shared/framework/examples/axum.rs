//! An axum `Router` served as an HTTP function: axum's routing and extractors, the
//! framework's contract, limits, logs and shutdown.
//!
//! ```sh
//! cargo run -p functions-framework --example axum
//! curl http://127.0.0.1:8080/users/7          # {"id":7,"name":"user 7"}
//! curl -X POST -d '{"name":"Ada"}' -H 'content-type: application/json' http://127.0.0.1:8080/users
//! ```

use axum::{extract::Path, routing::get, Json, Router};
use functions_framework::{Function, Functions};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct User {
    id: u32,
    name: String,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
}

fn router() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move {
                Json(User {
                    id,
                    name: format!("user {id}"),
                })
            }),
        )
        .route(
            "/users",
            axum::routing::post(|Json(new): Json<NewUser>| async move {
                Json(User {
                    id: 1,
                    name: new.name,
                })
            }),
        )
}

fn main() -> std::process::ExitCode {
    Functions::new()
        .register("users", Function::service(router()))
        .run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use functions_framework::{http, testing::Reply};

    #[tokio::test]
    async fn the_router_routes_and_extracts_behind_the_framework() {
        let users = Function::service(router());
        let get = http::Request::get("/users/7").body("".into()).unwrap();
        let found = Reply::read(users.call(get).await).await;
        assert_eq!(found.json(), serde_json::json!({"id": 7, "name": "user 7"}));
        let post = http::Request::post("/users")
            .header("content-type", "application/json")
            .body(r#"{"name": "Ada"}"#.into())
            .unwrap();
        let created = Reply::read(users.call(post).await).await;
        assert_eq!(created.json()["name"], "Ada");
        let missing = users.call(http::Request::get("/nope").body("".into()).unwrap());
        assert_eq!(missing.await.status(), http::StatusCode::NOT_FOUND);
    }
}
