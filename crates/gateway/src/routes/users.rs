//! `/Users`: create, read, query.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use roster_events::Change;
use roster_events::changes::v1::{CreateUser, DeleteUser, PatchUser, ReplaceUser};
use roster_scim::ScimError;
use roster_scim::list::ListResponse;
use roster_scim::patch::PatchRequest;
use roster_scim::user::{Meta, User};
use roster_store::outcomes::OutcomeRow;
use roster_store::users::UserRow;
use roster_store::{filter_sql, lookup};
use uuid::Uuid;

use super::common::{
    Answer, ListQuery, answer, applied_resource, event_operation, filter_error, if_match,
    lowercase_keys, not_modified, resource_id, search_params, selection, with_etag, written,
};
use super::scim_json;
use crate::auth::Principal;
use crate::body::read_json;
use crate::error::ApiError;
use crate::request_log::{note, patch_summary};
use crate::state::{AppState, Lookups};

/// `POST /Users`: validate, publish `CreateUser`, answer from the outcome (201 or an error).
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, state.max_body_bytes).await?;
    let user = User::from_request_with(body, &state.limits)?;
    let id = Uuid::new_v4();
    note(&req, |n| {
        n.resource_id = Some(id.to_string());
        n.resource_name = user_name(&user);
    });
    let resource = user.into_json();
    let change = Change::CreateUser(CreateUser {
        id: id.to_string(),
        resource_json: resource.to_string(),
        answered_from_request: true,
    });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome, &req, Some(resource))
}

/// `PUT /Users/{id}`: replace the whole user (200 with the new state).
pub async fn replace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path.1)?;
    let body = read_json(payload, state.max_body_bytes).await?;
    let user = User::from_request_with(body, &state.limits)?;
    note(&req, |n| n.resource_name = user_name(&user));
    let resource = user.into_json();
    let change = Change::ReplaceUser(ReplaceUser {
        id: id.to_string(),
        resource_json: resource.to_string(),
        if_match: if_match(&req),
        answered_from_request: true,
    });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome, &req, Some(resource))
}

/// `PATCH /Users/{id}`: every Entra dialect, normalised here, applied by the projector (200
/// with the new state).
pub async fn patch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path.1)?;
    let body = read_json(payload, state.max_body_bytes).await?;
    let ops = PatchRequest::parse_with(&body, &state.limits)?;
    note(&req, |n| n.operation = Some(patch_summary(&ops)));
    let operations = ops.iter().map(event_operation).collect();
    let change =
        Change::PatchUser(PatchUser { id: id.to_string(), operations, if_match: if_match(&req) });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome, &req, None)
}

/// `DELETE /Users/{id}`: deprovision (204). Under the directory's `tombstone` policy the user
/// is kept for history but answers 404 and frees its userName; under `erase` it is removed.
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path.1)?;
    let change = Change::DeleteUser(DeleteUser { id: id.to_string(), if_match: if_match(&req) });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome, &req, None)
}

/// A user's userName, for the provisioning log.
fn user_name(user: &User) -> Option<String> {
    Some(user.user_name().to_string()).filter(|name| !name.is_empty())
}

/// A user id from the path; anything that is not a UUID names no user.
fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    resource_id(raw, "no such user")
}

/// `GET /Users/{id}`, with `attributes` / `excludedAttributes`; `If-None-Match` with the
/// current version answers 304.
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let selection = selection(&lowercase_keys(query.into_inner()), &state.filter_limits)?;
    let not_found = || ApiError::Scim(ScimError::not_found("no such user"));
    let id = user_id(&path.1)?;
    let mut conn = lookups.checkout().await?;
    let row = lookup::find_user(&mut conn, principal.directory_id, id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    drop(conn);
    note(&req, |n| n.resource_name = Some(row.user_name.clone()));
    if not_modified(&req, row.version) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), row.version));
    }
    let resource = selection.apply(&render(&state, &row));
    Ok(with_etag(scim_json(StatusCode::OK, &resource), row.version))
}

/// `GET /Users?filter=…&startIndex=…&count=…`. Parameter names in any case and order; unknown
/// ones (Entra's `aadOptscim062020`) ignored.
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    query_list(principal, state, lookups, lowercase_keys(query.into_inner())).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the query in a SearchRequest body.
pub async fn search(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, state.max_body_bytes).await?;
    query_list(principal, state, lookups, search_params(&body)?).await
}

async fn query_list(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    params: HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery { selection, start_index, count, filter, sort } =
        ListQuery::parse(&params, &state)?;
    let directory_id = principal.directory_id;
    let (total, rows) = if filter.as_ref().is_some_and(filter_sql::is_user_lookup) {
        let mut conn = lookups.checkout().await?;
        let sort = sort.as_ref().map(|(path, descending)| (path, *descending));
        filter_sql::lookups::find_users(
            &mut conn,
            directory_id,
            filter.as_ref(),
            start_index,
            count,
            sort,
        )
        .await
        .map_err(filter_error)?
    } else {
        roster_store::run_read(&state.pool, move |conn| {
            let sort = sort.as_ref().map(|(path, descending)| (path, *descending));
            filter_sql::find_users(conn, directory_id, filter.as_ref(), start_index, count, sort)
                .map_err(filter_error)
        })
        .await?
    };
    let resources = rows.iter().map(|row| selection.apply(&render(&state, row))).collect();
    let body = ListResponse {
        total_results: total.max(0) as u64,
        start_index: start_index as u64,
        resources,
    };
    Ok(scim_json(StatusCode::OK, &body.to_json()))
}

pub(crate) fn render(state: &AppState, row: &UserRow) -> serde_json::Value {
    let meta = Meta {
        created: row.created_at,
        last_modified: row.last_modified,
        location: state.location(row.directory_id, "Users", row.id),
        version: row.version,
    };
    User::from_stored(row.resource.clone()).to_resource(&row.id.to_string(), &meta)
}

/// Answer a write from its outcome: the stored resource for a 2xx, the SCIM error otherwise.
/// `sent` is the canonical resource a create or replace published: what the projector stored,
/// and what its outcome then leaves out.
fn respond(
    state: &AppState,
    principal: &Principal,
    outcome: OutcomeRow,
    req: &HttpRequest,
    sent: Option<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let (status, id, applied) = match answer(outcome)? {
        Answer::NoContent(status) => return Ok(HttpResponse::build(status).finish()),
        Answer::Applied { status, id, body } => (status, id, body),
    };
    let stored = applied_resource(applied.resource, sent)?;
    // The provisioning log names the user a PATCH changed.
    if let Some(name) = stored.get("userName").and_then(|v| v.as_str()) {
        note(req, |n| n.resource_name = Some(name.to_string()));
    }
    let location = state.location(principal.directory_id, "Users", id);
    let meta = Meta {
        created: applied.created,
        last_modified: applied.last_modified,
        location: location.clone(),
        version: applied.version,
    };
    let resource = User::from_stored(stored).to_resource(&id.to_string(), &meta);
    Ok(written(status, &resource, &location, applied.version))
}
