//! Liveness and readiness for Kubernetes probes.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::error::ApiError;
use crate::lag::PipelineLag;
use crate::state::AppState;

/// The process is up.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Postgres answers and the outcome listener is connected: writes can be answered. The body
/// also reports the pipeline's lag ([`PipelineLag`]), which does not change the status.
pub async fn ready(state: web::Data<AppState>, lag: web::Data<PipelineLag>) -> HttpResponse {
    let db = roster_store::run_read(&state.pool, |conn| {
        diesel::sql_query("SELECT 1").execute(conn).map_err(ApiError::from)
    })
    .await
    .is_ok();
    let listener = state.hub.is_connected();
    let pipeline = lag.snapshot().await;
    let body =
        serde_json::json!({"database": db, "outcomeListener": listener, "pipeline": pipeline});
    if db && listener {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
