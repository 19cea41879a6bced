//! `/tenants`: the vendor's customers.

use actix_web::{HttpRequest, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Answer, ListOf, Problem, body, created, no_content, ok, query, request_id};
use crate::control::Caller;
use crate::control::tenants::{self, TenantInput, TenantView};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_tenant)
        .service(list_tenants)
        .service(get_tenant)
        .service(rename_tenant)
        .service(delete_tenant);
}

/// `cursor` and `limit` of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// Create a tenant (operators).
#[utoipa::path(
    tag = "tenants",
    request_body = TenantInput,
    responses(
        (status = 201, body = TenantView, description = "Created"),
        (status = 400, body = Problem, description = "A name empty, over 200 characters or with control characters"),
        (status = 403, body = Problem, description = "Not allowed for this token's scope"),
        (status = 409, body = Problem, description = "The name is taken"),
    )
)]
#[post("/tenants")]
async fn create_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Answer {
    let input = body(&state, payload).await?;
    created(&tenants::create(&state, &caller, input).await?)
}

/// Tenants in name order: every one for an operator, their own for a tenant admin.
#[utoipa::path(tag = "tenants", params(PageQuery), responses((status = 200, body = ListOf<TenantView>, description = "OK")))]
#[get("/tenants")]
async fn list_tenants(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Answer {
    let q: PageQuery = query(&req)?;
    ok(&ListOf::from(tenants::list(&state, &caller, q.cursor.as_deref(), q.limit).await?))
}

#[utoipa::path(
    tag = "tenants",
    params(("tenantId" = String, Path)),
    responses((status = 200, body = TenantView, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/tenants/{tenantId}")]
async fn get_tenant(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Answer {
    ok(&tenants::get(&state, &caller, &path).await?)
}

/// Rename a tenant (operators).
#[utoipa::path(
    tag = "tenants",
    params(("tenantId" = String, Path)),
    request_body = TenantInput,
    responses((status = 200, body = TenantView, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"), (status = 409, body = Problem, description = "Conflict"))
)]
#[patch("/tenants/{tenantId}")]
async fn rename_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let input = body(&state, payload).await?;
    ok(&tenants::rename(&state, &caller, &path, input).await?)
}

/// Delete a tenant (operators): each of its directories through the change log, then the
/// tenant and its admin tokens.
#[utoipa::path(
    tag = "tenants",
    params(("tenantId" = String, Path)),
    responses((status = 204, description = "Done; no body"), (status = 403, body = Problem, description = "Not allowed for this token's scope"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[delete("/tenants/{tenantId}")]
async fn delete_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    tenants::delete(&state, &caller, &path, &request_id(&req)).await?;
    no_content()
}
