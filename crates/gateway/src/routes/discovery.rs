//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4), documents built by
//! `roster_scim::discovery` for the directory's SCIM root. `/ResourceTypes` and `/Schemas` also
//! declare the custom User extensions the directory holds (inferred from its stored users), so
//! strict clients can validate every user Roster returns.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use roster_scim::discovery::Extension;
use roster_scim::{ScimError, discovery};

use super::scim_json;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn service_provider_config(
    principal: Principal,
    state: web::Data<AppState>,
) -> HttpResponse {
    let root = state.scim_root(principal.directory_id);
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&root, u64::from(state.max_page_size)),
    )
}

/// The custom extensions the principal's directory holds.
async fn extensions(principal: &Principal, state: &AppState) -> Result<Vec<Extension>, ApiError> {
    let directory_id = principal.directory_id;
    roster_store::run_read(&state.pool, move |conn| {
        roster_store::users::extensions(conn, directory_id).map_err(ApiError::from)
    })
    .await
}

pub async fn resource_types(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.scim_root(principal.directory_id);
    let extensions = extensions(&principal, &state).await?;
    Ok(scim_json(StatusCode::OK, &discovery::resource_types_list(&root, &extensions)))
}

pub async fn resource_type(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let root = state.scim_root(principal.directory_id);
    let extensions = extensions(&principal, &state).await?;
    discovery::resource_type(&root, &path.1, &extensions)
        .map(|doc| scim_json(StatusCode::OK, &doc))
        .ok_or_else(|| ApiError::Scim(ScimError::not_found("no such resource type")))
}

pub async fn schemas(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.scim_root(principal.directory_id);
    let extensions = extensions(&principal, &state).await?;
    Ok(scim_json(StatusCode::OK, &discovery::schemas_list(&root, &state.limits, &extensions)))
}

pub async fn schema(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let root = state.scim_root(principal.directory_id);
    let extensions = extensions(&principal, &state).await?;
    discovery::schema(&root, &path.1, &state.limits, &extensions)
        .map(|doc| scim_json(StatusCode::OK, &doc))
        .ok_or_else(|| ApiError::Scim(ScimError::not_found("no such schema")))
}
