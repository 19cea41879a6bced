//! `/admin-tokens` and `/audit-log`: who may use this API, and what they did with it.

use actix_web::{HttpRequest, delete, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Answer, ListOf, Problem, body, created, no_content, ok, query};
use crate::control::Caller;
use crate::control::admin_tokens::{self, AdminTokenInput, AdminTokenView, IssuedAdminToken};
use crate::control::log::{self, AuditEntryView};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(issue_admin_token)
        .service(list_admin_tokens)
        .service(revoke_admin_token)
        .service(audit_log);
}

/// Issue an admin token (operators): an operator's, or a tenant admin's with `tenantId`. It
/// expires (by default after `auth.admin_token_default_ttl_hours`); the token is shown once.
#[utoipa::path(
    tag = "admin tokens",
    request_body = AdminTokenInput,
    responses((status = 201, body = IssuedAdminToken, description = "Created"), (status = 400, body = Problem, description = "The input is invalid"), (status = 403, body = Problem, description = "Not allowed for this token's scope"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[post("/admin-tokens")]
async fn issue_admin_token(
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Answer {
    let input: AdminTokenInput = body(&state, payload).await?;
    created(&admin_tokens::issue(&state, &caller, input).await?)
}

/// Admin tokens, newest first, never their secrets: every one for an operator, their tenant's
/// for a tenant admin.
#[utoipa::path(tag = "admin tokens", responses((status = 200, body = ListOf<AdminTokenView>, description = "OK")))]
#[get("/admin-tokens")]
async fn list_admin_tokens(state: web::Data<AppState>, caller: Caller) -> Answer {
    let items = admin_tokens::list(&state, &caller).await?;
    ok(&ListOf { items, next_cursor: None })
}

/// Revoke an admin token: refused by every gateway at once.
#[utoipa::path(
    tag = "admin tokens",
    params(("tokenId" = String, Path)),
    responses((status = 204, description = "Done; no body"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[delete("/admin-tokens/{tokenId}")]
async fn revoke_admin_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Answer {
    admin_tokens::revoke(&state, &caller, &path).await?;
    no_content()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct AuditQuery {
    /// Only this tenant's changes.
    tenant_id: Option<String>,
    /// Only this directory's changes.
    directory_id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Every change made through this API or the console, newest first, with its actor.
#[utoipa::path(
    tag = "admin tokens",
    params(AuditQuery),
    responses((status = 200, body = ListOf<AuditEntryView>, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/audit-log")]
async fn audit_log(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Answer {
    let q: AuditQuery = query(&req)?;
    let page = log::audit_log(
        &state,
        &caller,
        q.tenant_id.as_deref(),
        q.directory_id.as_deref(),
        q.cursor.as_deref(),
        q.limit,
    )
    .await?;
    ok(&ListOf::from(page))
}
