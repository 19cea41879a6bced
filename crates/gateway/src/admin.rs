//! The admin API, `/admin/v1/…`: directory settings, role-mapping rules and the notifications
//! Events API.
//!
//! Authentication: a bearer admin token (`roster admin-token issue`), HS256 with
//! `auth.admin_signing_key` (never the key or algorithm the token names). An `operator` token
//! sees every directory; a `tenant` token only its tenant's, and another tenant's directory is
//! answered 404, as if it did not exist. Errors are `application/problem+json` (RFC 9457).
//!
//! Changes (rules, settings, deletion) go through the change log like SCIM writes, so they are
//! ordered with the provisioning they affect; the response comes from their outcome.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use roster_events::Change;
use roster_events::changes::v1::{DirectoryDeleted, DirectorySettingsChanged, MappingRulesChanged};
use roster_events::rules::MappingRules;
use roster_platform::admin_tokens::{self, AdminPrincipal};
use roster_store::control::{self, DeprovisionPolicy};
use roster_store::outcomes::OutcomeRow;
use roster_store::{mapping_rules, outbox};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The key admin tokens are verified with.
pub struct AdminKey(pub SecretString);

/// Largest page of the Events API.
const MAX_NOTIFICATIONS_PAGE: i64 = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .wrap(actix_web::middleware::from_fn(authenticate))
            .service(
                resource("/directories/{id}")
                    .route(web::get().to(get_directory))
                    .route(web::delete().to(delete_directory)),
            )
            .service(resource("/directories/{id}/settings").route(web::put().to(put_settings)))
            .service(
                resource("/directories/{id}/role-mappings")
                    .route(web::get().to(get_role_mappings))
                    .route(web::put().to(put_role_mappings)),
            )
            .service(
                resource("/directories/{id}/notifications")
                    .route(web::get().to(list_notifications)),
            )
            .default_service(web::to(not_found)),
    );
}

/// An admin API failure: an [`ApiError`] whose body is `application/problem+json`
/// ([`crate::error::render`] writes both scopes' responses).
#[derive(Debug)]
pub struct AdminError(ApiError);

impl From<ApiError> for AdminError {
    fn from(error: ApiError) -> Self {
        AdminError(error)
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl AdminError {
    fn new(status: u16, detail: impl Into<String>) -> AdminError {
        AdminError(ApiError::Scim(roster_scim::ScimError::new(status, None, detail)))
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        crate::error::render(&self.0, crate::error::BodyFormat::Problem)
    }
}

/// Middleware: verify the admin bearer token and leave the [`AdminPrincipal`] in the request.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let unauthorized = || AdminError::new(401, "a valid admin bearer token is required");
    let key = req.app_data::<web::Data<AdminKey>>().ok_or_else(unauthorized)?;
    let token = crate::auth::bearer_token(req.request()).ok_or_else(unauthorized)?;
    let principal = admin_tokens::verify(&key.0, token).map_err(|_| unauthorized())?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The directory of the path, if the caller may see it (else 404, as if it did not exist).
async fn directory(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
) -> Result<control::Directory, AdminError> {
    let missing = || AdminError::new(404, format!("no directory {id}"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let principal = req.extensions().get::<AdminPrincipal>().cloned().ok_or_else(missing)?;
    let found = roster_store::run_read(&state.pool, move |conn| {
        control::find_directory(conn, id).map_err(ApiError::from)
    })
    .await?;
    found.filter(|d| principal.scope.allows(d.tenant_id)).ok_or_else(missing)
}

/// Publish an admin change of `directory` and wait for its outcome.
async fn submit(
    state: &AppState,
    req: &HttpRequest,
    directory: &control::Directory,
    change: Change,
) -> Result<OutcomeRow, AdminError> {
    let outcome =
        state.submit_for(directory.id, directory.tenant_id, String::new(), change, req).await?;
    if outcome.status >= 400 {
        let detail = outcome
            .body
            .as_ref()
            .and_then(roster_scim::ScimError::from_body)
            .map(|e| e.detail)
            .unwrap_or_else(|| "the change was rejected".to_string());
        return Err(AdminError::new(outcome.status as u16, detail));
    }
    Ok(outcome)
}

fn json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(body.to_string())
}

async fn get_directory(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "id": directory.id,
            "tenantId": directory.tenant_id,
            "name": directory.name,
            "tenantUrl": state.scim_root(directory.id),
            "deprovisionPolicy": directory.deprovision_policy,
            "createdAt": directory.created_at,
        }),
    ))
}

async fn delete_directory(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    submit(&state, &req, &directory, Change::DirectoryDeleted(DirectoryDeleted {})).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    deprovision_policy: String,
}

async fn put_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    let settings: SettingsBody = serde_json::from_slice(&body)
        .map_err(|e| AdminError::new(400, format!("the body is not valid settings: {e}")))?;
    let Some(policy) = DeprovisionPolicy::parse(&settings.deprovision_policy) else {
        return Err(AdminError::new(400, "deprovisionPolicy must be \"tombstone\" or \"erase\""));
    };
    let change = Change::DirectorySettingsChanged(DirectorySettingsChanged {
        deprovision_policy: policy.as_str().to_string(),
    });
    let outcome = submit(&state, &req, &directory, change).await?;
    Ok(json(StatusCode::OK, &outcome.body.unwrap_or_default()))
}

async fn get_role_mappings(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    let id = directory.id;
    let current = roster_store::run_read(&state.pool, move |conn| {
        mapping_rules::current(conn, id).map_err(ApiError::from)
    })
    .await?;
    let (version, body) = match current {
        Some(row) => (
            row.version,
            serde_json::json!({
                "version": row.version,
                "rules": row.rules,
                "changedAt": row.changed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
        ),
        None => {
            (0, serde_json::json!({ "version": 0, "rules": MappingRules::default().to_json() }))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .body(body.to_string()))
}

/// `If-Match: "3"` (or `W/"3"`): the version the rules must still have.
fn if_version(req: &HttpRequest) -> Result<Option<i64>, AdminError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let bad = || AdminError::new(400, "If-Match must be a rules version such as \"3\"");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| bad())
}

async fn put_role_mappings(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    if body.len() > state.max_body_bytes {
        return Err(AdminError::new(413, "the rules are too large"));
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AdminError::new(400, format!("the body is not JSON: {e}")))?;
    let rules = MappingRules::parse(&json).map_err(|e| AdminError::new(400, e.to_string()))?;
    let change = Change::MappingRulesChanged(MappingRulesChanged {
        version: 0,
        rules_json: rules.to_json().to_string(),
        if_version: if_version(&req)?,
    });
    let outcome = submit(&state, &req, &directory, change).await?;
    let body = outcome.body.unwrap_or_default();
    let version = body.get("version").and_then(serde_json::Value::as_i64).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .body(body.to_string()))
}

#[derive(Debug, Deserialize)]
struct NotificationsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET …/notifications?after=<sequence>&limit=<n>`: the directory's notifications after a
/// sequence, oldest first, from the outbox (published or not yet).
async fn list_notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let directory = directory(&state, &req, &path).await?;
    let query = web::Query::<NotificationsQuery>::from_query(req.query_string())
        .map_err(|e| AdminError::new(400, format!("bad query string: {e}")))?
        .into_inner();
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    if after < 0 || !(1..=MAX_NOTIFICATIONS_PAGE).contains(&limit) {
        return Err(AdminError::new(
            400,
            format!("after must be ≥ 0 and limit between 1 and {MAX_NOTIFICATIONS_PAGE}"),
        ));
    }
    let id = directory.id;
    let rows = roster_store::run_read(&state.pool, move |conn| {
        outbox::list_after(conn, id, after, limit).map_err(ApiError::from)
    })
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let decoded = roster_events::notification::decode_notification(&row.payload)
            .map_err(ApiError::internal)?;
        items.push(roster_events::notification::to_json(&decoded));
    }
    let next_after = rows.last().map_or(after, |r| r.sequence);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "notifications": items, "next_after": next_after }),
    ))
}

async fn not_found() -> Result<HttpResponse, AdminError> {
    Err(AdminError::new(404, "no such endpoint"))
}

/// A resource of the admin API: a method it has no route for is a problem+json 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, AdminError> {
    Err(AdminError::new(405, "method not allowed on this resource"))
}
