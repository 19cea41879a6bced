//! The admin API, `/admin/v1/…`: JSON over the control plane ([`crate::control`]), errors as
//! `application/problem+json` (RFC 9457), and its OpenAPI 3.1 document at
//! `/admin/v1/openapi.json`, generated from these handlers (utoipa): a handler without its
//! `#[utoipa::path]` cannot be registered.
//!
//! Authentication: a bearer admin token ([`auth::AdminVerifier`]). Out of a token's scope is
//! 404, as if it did not exist; what its scope never allows is 403.

pub mod auth;
mod directories;
mod identities;
mod mappings;
mod tenants;
mod views;

use std::sync::{Arc, OnceLock};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, get, web};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::scope::Scope;

use crate::control::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";

/// An admin API failure: an [`ApiError`] whose body is `application/problem+json`
/// ([`crate::error::render`] writes both scopes' responses).
#[derive(Debug)]
pub struct AdminError(pub ApiError);

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

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        crate::error::render(&self.0, crate::error::BodyFormat::Problem)
    }
}

/// A problem (RFC 9457), the body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOf<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl<T> From<roster_store::page::Page<T>> for ListOf<T> {
    fn from(page: roster_store::page::Page<T>) -> Self {
        ListOf { items: page.items, next_cursor: page.next_cursor }
    }
}

type Answer = Result<HttpResponse, AdminError>;

fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

fn ok(body: &impl Serialize) -> Answer {
    Ok(json(StatusCode::OK, body))
}

fn created(body: &impl Serialize) -> Answer {
    Ok(json(StatusCode::CREATED, body))
}

fn no_content() -> Answer {
    Ok(HttpResponse::NoContent().finish())
}

/// A JSON body as `T` (an empty body is `{}`), else 400 saying why; 413 past the gateway's body
/// limit.
async fn body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    payload: web::Payload,
) -> Result<T, AdminError> {
    let bytes = crate::body::read_bytes(payload, state.max_body_bytes).await?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { &bytes };
    serde_json::from_slice(bytes)
        .map_err(|e| crate::control::bad_request(format!("the body is not valid: {e}")).into())
}

/// A query string as `T`, else 400.
fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, AdminError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| crate::control::bad_request(format!("bad query string: {e}")).into())
}

/// The request id of a control-plane change (the client's, or a new one).
fn request_id(req: &HttpRequest) -> String {
    crate::state::request_id(req)
}

impl FromRequest for Caller {
    type Error = AdminError;
    type Future = std::future::Ready<Result<Caller, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| AdminError(auth::unauthorized())),
        )
    }
}

/// Middleware: verify the admin bearer token and leave the [`Caller`] in the request. The
/// OpenAPI document needs none.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path() != OPENAPI_PATH {
        let verifier = req
            .app_data::<web::Data<auth::AdminVerifier>>()
            .cloned()
            .ok_or_else(|| AdminError(ApiError::internal(anyhow::anyhow!("no admin verifier"))))?;
        let token = crate::auth::bearer_token(req.request()).unwrap_or_default().to_string();
        let caller = verifier.caller(&token).await.map_err(AdminError)?;
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}

const OPENAPI_PATH: &str = "/admin/v1/openapi.json";

/// The document, rendered once the routes are known.
#[derive(Clone, Default)]
pub struct OpenApiJson(pub Arc<OnceLock<String>>);

/// This document: the admin API as OpenAPI 3.1.
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
#[get("/openapi.json")]
async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.get().cloned().unwrap_or_default())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roster admin API",
        description = "Tenants, directories (SCIM endpoints), their secret tokens, role mappings, users and groups with their product roles, the provisioning log, health, portal links, admin tokens and the audit log. See docs/designs/0006-control-plane.md.",
        version = "1"
    ),
    modifiers(&BearerAuth),
    security(("adminToken" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The base document (info, security); the paths are collected as the routes are registered.
pub fn base_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The whole document, as `/admin/v1/openapi.json` serves it (built without a server, for
/// `roster-gateway openapi` and the drift check in `make lint`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    actix_web::App::new()
        .into_utoipa_app()
        .openapi(base_document())
        .service(scope())
        .split_for_parts()
        .1
}

/// The admin API's routes, every one documented.
pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope::scope(PREFIX)
        .wrap(actix_web::middleware::from_fn(authenticate))
        .service(openapi_json)
        .configure(tenants::configure)
        .configure(directories::configure)
        .configure(mappings::configure)
        .configure(views::configure)
        .configure(identities::configure)
        .default_service(web::to(unrouted))
}

/// No route took the request: 405 if its path is one of the API's (another method), else 404.
async fn unrouted(req: HttpRequest, doc: web::Data<OpenApiJson>) -> Answer {
    let known = doc
        .0
        .get()
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .and_then(|doc| {
            let paths = doc.get("paths")?.as_object()?.keys().cloned().collect::<Vec<_>>();
            Some(paths.iter().any(|template| matches_template(template, req.path())))
        })
        .unwrap_or(false);
    let (status, detail) = if known {
        (405, "method not allowed on this resource")
    } else {
        (404, "no such endpoint")
    };
    Err(ApiError::Scim(roster_scim::ScimError::new(status, None, detail)).into())
}

/// Whether `path` is an instance of the OpenAPI path `template` (`/tenants/{tenantId}`).
fn matches_template(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

#[cfg(test)]
mod tests {
    use super::{PREFIX, matches_template, openapi_document};

    /// Every route an admin source file declares (`#[get("/tenants")]`, …) is in the document:
    /// a route registered without its `#[utoipa::path]` would be missing.
    #[test]
    fn every_declared_route_is_documented() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("tenants.rs"),
            include_str!("directories.rs"),
            include_str!("mappings.rs"),
            include_str!("views.rs"),
            include_str!("identities.rs"),
        ];
        let document = serde_json::to_value(openapi_document()).unwrap_or_default();
        let mut declared = 0;
        for source in sources {
            for line in source.lines().map(str::trim) {
                let Some(rest) = line.strip_prefix("#[") else { continue };
                let Some((method, rest)) = rest.split_once("(\"") else { continue };
                if !["get", "post", "put", "patch", "delete"].contains(&method) {
                    continue;
                }
                let path = rest.trim_end_matches("\")]");
                let operation = &document["paths"][format!("{PREFIX}{path}")][method];
                assert!(operation.is_object(), "{method} {path} is not in the OpenAPI document");
                declared += 1;
            }
        }
        let documented: usize = document["paths"]
            .as_object()
            .map(|paths| paths.values().filter_map(|p| p.as_object()).map(|p| p.len()).sum())
            .unwrap_or_default();
        assert_eq!(declared, documented, "every documented operation is declared once");
        assert!(declared >= 25);
    }

    #[test]
    fn paths_match_their_templates() {
        assert!(matches_template("/admin/v1/tenants/{tenantId}", "/admin/v1/tenants/abc"));
        // Exact routes: another spelling is another path.
        assert!(!matches_template("/admin/v1/tenants", "/admin/v1/tenants/"));
        assert!(!matches_template("/admin/v1/tenants/{tenantId}", "/admin/v1/tenants"));
        assert!(!matches_template("/admin/v1/tenants/{tenantId}", "/admin/v1/tenants/a/b"));
        assert!(!matches_template("/admin/v1/tenants/{tenantId}", "/admin/v1/tenants//"));
    }
}
