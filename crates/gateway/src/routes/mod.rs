//! HTTP routes. Handlers are thin: extract, call the domain, map the error.

mod common;
pub mod discovery;
pub mod groups;
pub mod health;
pub mod search;
pub mod users;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use roster_scim::ScimError;

use crate::auth;
use crate::error::{ApiError, SCIM_JSON};
use crate::state::request_id;

/// A SCIM JSON response.
pub fn scim_json(status: actix_web::http::StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, SCIM_JSON))
        .body(body.to_string())
}

/// Routes of the whole service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2/{directory}")
            .wrap(actix_web::middleware::from_fn(auth::authenticate))
            // Outside authentication, so that refused requests are logged too.
            .wrap(actix_web::middleware::from_fn(crate::request_log::record))
            .service(resource("/.search").route(web::post().to(search::search_all)))
            .service(
                resource("/Users")
                    .route(web::post().to(users::create))
                    .route(web::get().to(users::list)),
            )
            .service(resource("/Users/.search").route(web::post().to(users::search)))
            .service(
                resource("/Users/{id}")
                    .route(web::get().to(users::get))
                    .route(web::put().to(users::replace))
                    .route(web::patch().to(users::patch))
                    .route(web::delete().to(users::delete)),
            )
            .service(
                resource("/Groups")
                    .route(web::post().to(groups::create))
                    .route(web::get().to(groups::list)),
            )
            .service(resource("/Groups/.search").route(web::post().to(groups::search)))
            .service(
                resource("/Groups/{id}")
                    .route(web::get().to(groups::get))
                    .route(web::put().to(groups::replace))
                    .route(web::patch().to(groups::patch))
                    .route(web::delete().to(groups::delete)),
            )
            .service(
                resource("/ServiceProviderConfig")
                    .route(web::get().to(discovery::service_provider_config)),
            )
            .service(resource("/ResourceTypes").route(web::get().to(discovery::resource_types)))
            .service(resource("/ResourceTypes/{id}").route(web::get().to(discovery::resource_type)))
            .service(resource("/Schemas").route(web::get().to(discovery::schemas)))
            .service(resource("/Schemas/{id}").route(web::get().to(discovery::schema)))
            .default_service(web::to(not_found)),
    )
    .service(web::resource("/health/live").route(web::get().to(health::live)))
    .service(web::resource("/health/ready").route(web::get().to(health::ready)))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Scim(ScimError::not_found("no such endpoint")))
}

/// A resource of the SCIM API: a method it has no route for is a SCIM 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Scim(ScimError::new(405, None, "method not allowed on this resource")))
}

/// Middleware: one span per request, one line per response (method, route, status, latency),
/// and the request id echoed in `x-request-id`. The query string is not logged: filters carry
/// user names.
pub async fn trace_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    let id = request_id(req.request());
    let method = req.method().as_str().to_string();
    let span = tracing::info_span!(
        "http.request",
        http.method = %req.method(),
        http.route = req.match_pattern().unwrap_or_default(),
        request.id = %id,
        directory.id = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await;
    if let (Ok(r), Ok(value)) = (&mut response, header::HeaderValue::from_str(&id)) {
        r.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    let (status, route) = match &response {
        Ok(r) => (r.status().as_u16(), r.request().match_pattern()),
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    // The route template, never the path: paths hold directory and user ids.
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    metrics::histogram!(
        "roster_http_request_duration_seconds",
        "route" => route, "method" => method, "status" => status.to_string()
    )
    .record(started.elapsed());
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    response
}
