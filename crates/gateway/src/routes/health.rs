//! Liveness and readiness for Kubernetes probes.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use super::AppState;
use crate::error::ApiError;

/// The process is up.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Postgres answers and the outcome listener is connected: writes can be answered.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let db = roster_store::run_read(&state.pool, |conn| {
        diesel::sql_query("SELECT 1").execute(conn).map_err(ApiError::from)
    })
    .await
    .is_ok();
    let listener = state.hub.is_connected();
    let body = serde_json::json!({"database": db, "outcomeListener": listener});
    if db && listener {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
