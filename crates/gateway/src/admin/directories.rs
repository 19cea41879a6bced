//! `/tenants/{tenantId}/directories` and `/directories/{directoryId}`: SCIM endpoints, their
//! settings, secret tokens and portal links.

use actix_web::{HttpRequest, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::tenants::PageQuery;
use super::{Answer, ListOf, Problem, body, created, no_content, ok, query, request_id};
use crate::control::Caller;
use crate::control::directories::{self, DirectoryInput, DirectoryView, SettingsInput};
use crate::control::portal::{self, PortalLink, PortalLinkInput};
use crate::control::tokens::{self, IssuedToken, TokenInput, TokenView};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_directory)
        .service(list_directories)
        .service(get_directory)
        .service(delete_directory)
        .service(put_settings)
        .service(issue_token)
        .service(list_tokens)
        .service(revoke_token)
        .service(create_portal_link);
}

/// Create a directory: a SCIM endpoint with its Tenant URL (issue a token to connect Entra).
#[utoipa::path(
    tag = "directories",
    params(("tenantId" = String, Path)),
    request_body = DirectoryInput,
    responses(
        (status = 201, body = DirectoryView, description = "Created"),
        (status = 400, body = Problem, description = "The input is invalid"),
        (status = 404, body = Problem, description = "Not found, or out of this token's scope"),
        (status = 409, body = Problem, description = "The tenant has a directory of this name"),
    )
)]
#[post("/tenants/{tenantId}/directories")]
async fn create_directory(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let input: DirectoryInput = body(&state, payload).await?;
    created(&directories::create(&state, &caller, &path, input).await?)
}

#[utoipa::path(
    tag = "directories",
    params(("tenantId" = String, Path), PageQuery),
    responses((status = 200, body = ListOf<DirectoryView>, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/tenants/{tenantId}/directories")]
async fn list_directories(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    let q: PageQuery = query(&req)?;
    let page = directories::list(&state, &caller, &path, q.cursor.as_deref(), q.limit).await?;
    ok(&ListOf::from(page))
}

#[utoipa::path(
    tag = "directories",
    params(("directoryId" = String, Path)),
    responses((status = 200, body = DirectoryView, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}")]
async fn get_directory(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Answer {
    ok(&directories::get(&state, &caller, &path).await?)
}

/// Delete a directory with its users, groups, rules and tokens, through the change log
/// (downstream hears `directory.deleted`).
#[utoipa::path(
    tag = "directories",
    params(("directoryId" = String, Path)),
    responses((status = 204, description = "Done; no body"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"), (status = 503, body = Problem, description = "Unavailable; retry after Retry-After"))
)]
#[delete("/directories/{directoryId}")]
async fn delete_directory(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    directories::delete(&state, &caller, &path, &request_id(&req)).await?;
    no_content()
}

/// Change what DELETE of a user or group does: keep a tombstone, or erase.
#[utoipa::path(
    tag = "directories",
    params(("directoryId" = String, Path)),
    request_body = SettingsInput,
    responses((status = 200, description = "The settings now in force"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[put("/directories/{directoryId}/settings")]
async fn put_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Answer {
    let input: SettingsInput = body(&state, payload).await?;
    ok(&directories::change_settings(&state, &caller, &path, &request_id(&req), input).await?)
}

/// Issue a secret token (the token is shown this once). Rotation: issue a new one, paste it
/// into Entra, then revoke the old one, which works until then.
#[utoipa::path(
    tag = "tokens",
    params(("directoryId" = String, Path)),
    request_body = TokenInput,
    responses((status = 201, body = IssuedToken, description = "Created"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[post("/directories/{directoryId}/tokens")]
async fn issue_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let input: TokenInput = body(&state, payload).await?;
    created(&tokens::issue(&state, &caller, &path, input).await?)
}

/// The directory's tokens, newest first, never their secrets.
#[utoipa::path(
    tag = "tokens",
    params(("directoryId" = String, Path)),
    responses((status = 200, body = ListOf<TokenView>, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/tokens")]
async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Answer {
    let items = tokens::list(&state, &caller, &path).await?;
    ok(&ListOf { items, next_cursor: None })
}

/// Revoke a token: every gateway refuses it within a second.
#[utoipa::path(
    tag = "tokens",
    params(("directoryId" = String, Path), ("tokenId" = String, Path)),
    responses((status = 204, description = "Done; no body"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[delete("/directories/{directoryId}/tokens/{tokenId}")]
async fn revoke_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Answer {
    let (directory, token) = path.into_inner();
    tokens::revoke(&state, &caller, &directory, &token).await?;
    no_content()
}

/// A portal link for the customer's IT admin: it opens this directory's console page, and
/// nothing else, until it expires.
#[utoipa::path(
    tag = "directories",
    params(("directoryId" = String, Path)),
    request_body = PortalLinkInput,
    responses((status = 201, body = PortalLink, description = "Created"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[post("/directories/{directoryId}/portal-links")]
async fn create_portal_link(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let input: PortalLinkInput = body(&state, payload).await?;
    created(&portal::issue(&state, &caller, &path, input).await?)
}
