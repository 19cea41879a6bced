//! `/directories/{directoryId}/role-mappings`: the rules, their version as ETag, and a dry run.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{AdminError, Answer, Problem, ok};
use crate::control::mappings::{self, Preview, RulesView};
use crate::control::{Caller, bad_request};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_role_mappings).service(put_role_mappings).service(preview_role_mappings);
}

fn with_etag(rules: &RulesView) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, format!("\"{}\"", rules.version))).json(rules)
}

/// The directory's role-mapping rules; the ETag is their version (0 before any were set).
#[utoipa::path(
    tag = "role mappings",
    params(("directoryId" = String, Path)),
    responses((status = 200, body = RulesView, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/role-mappings")]
async fn get_role_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Answer {
    Ok(with_etag(&mappings::get(&state, &caller, &path).await?))
}

/// `If-Match: "3"` (or `W/"3"`): the version the rules must still have.
fn if_version(req: &HttpRequest) -> Result<Option<i64>, AdminError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let bad = || AdminError(bad_request("If-Match must be a rules version such as \"3\""));
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| bad())
}

/// Set the rules (applied in log order with the provisioning around them; every user whose
/// product roles or teams change gets `user.access_changed`). `If-Match` guards against a
/// concurrent change (412).
#[utoipa::path(
    tag = "role mappings",
    params(("directoryId" = String, Path), ("If-Match" = Option<String>, Header, description = "The version the rules must still have")),
    request_body(content = Object, description = "The rules: appRoles, groups, defaultRole, policy"),
    responses(
        (status = 200, body = RulesView, description = "OK"),
        (status = 400, body = Problem, description = "The input is invalid"),
        (status = 404, body = Problem, description = "Not found, or out of this token's scope"),
        (status = 412, body = Problem, description = "The rules changed since that version"),
        (status = 413, body = Problem, description = "Too large"),
    )
)]
#[put("/directories/{directoryId}/role-mappings")]
async fn put_role_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Answer {
    let bytes = crate::body::read_bytes(payload, state.max_body_bytes).await?;
    let rules = mappings::parse(&bytes, state.max_body_bytes)?;
    let version = if_version(&req)?;
    let request_id = crate::state::request_id(&req);
    Ok(with_etag(&mappings::set(&state, &caller, &path, &request_id, rules, version).await?))
}

/// A dry run: which users' product roles and teams the proposed rules would change, and how.
/// Nothing is changed.
#[utoipa::path(
    tag = "role mappings",
    params(("directoryId" = String, Path)),
    request_body(content = Object, description = "The proposed rules, as for PUT"),
    responses((status = 200, body = Preview, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[post("/directories/{directoryId}/role-mappings/preview")]
async fn preview_role_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let bytes = crate::body::read_bytes(payload, state.max_body_bytes).await?;
    let rules = mappings::parse(&bytes, state.max_body_bytes)?;
    ok(&mappings::preview(&state, &caller, &path, rules).await?)
}
