//! HTTP routes. Handlers are thin: extract, call the domain, map the error.

mod common;
pub mod discovery;
pub mod groups;
pub mod health;
pub mod search;
pub mod users;

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use roster_events::{Change, ChangeEvent};
use roster_scim::ScimError;
use roster_store::PgPool;
use roster_store::outcomes::OutcomeRow;
use uuid::Uuid;

use crate::auth::{self, Principal};
use crate::error::{ApiError, SCIM_JSON};
use crate::hub::OutcomeHub;
use crate::in_flight::InFlight;
use crate::publish::Publisher;

/// What handlers share.
pub struct AppState {
    pub pool: PgPool,
    pub publisher: Publisher,
    pub hub: OutcomeHub,
    /// Public base URL, without a trailing `/`.
    pub base_url: String,
    pub outcome_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    /// Limits of `filter` parameters.
    pub filter_limits: roster_scim::filter::ParseLimits,
    /// What one request may hold (`[limits]`), checked before anything is published.
    pub limits: roster_scim::Limits,
    /// Writes in flight per directory, bounded.
    pub in_flight: InFlight,
}

impl AppState {
    /// The URL of the SCIM root of a directory (the Tenant URL).
    pub fn scim_root(&self, directory_id: Uuid) -> String {
        roster_platform::settings::tenant_url(&self.base_url, &directory_id.to_string())
    }

    /// Publish `change` as an event of the principal's directory and wait for its outcome.
    pub async fn submit(
        &self,
        principal: &Principal,
        change: Change,
        req: &HttpRequest,
    ) -> Result<OutcomeRow, ApiError> {
        let actor = principal.token_id.to_string();
        self.submit_for(principal.directory_id, principal.tenant_id, actor, change, req).await
    }

    /// Publish `change` as an event of a directory and wait for its outcome. `actor` is the
    /// SCIM token id that authenticated the request, empty for operator changes.
    pub async fn submit_for(
        &self,
        directory_id: Uuid,
        tenant_id: Uuid,
        actor: String,
        change: Change,
        req: &HttpRequest,
    ) -> Result<OutcomeRow, ApiError> {
        let Some(_permit) = self.in_flight.try_acquire(directory_id) else {
            tracing::info!(directory.id = %directory_id, "too many writes in flight; 429");
            return Err(ApiError::Throttled {
                detail: "too many writes of this directory are in flight; retry later".into(),
                retry_after_secs: 1,
            });
        };
        let event_id = Uuid::now_v7();
        let event = ChangeEvent {
            event_id: event_id.to_string(),
            directory_id: directory_id.to_string(),
            tenant_id: tenant_id.to_string(),
            event_time_micros: roster_events::time_to_micros(Utc::now()),
            request_id: request_id(req),
            actor_token_id: actor,
            change: Some(change),
        };
        let waiter = self.hub.register(event_id);
        let (partition, offset) = self.publisher.publish(&event).await?;
        self.hub.wake_consumers();
        tracing::debug!(event.id = %event_id, kafka.partition = partition, kafka.offset = offset, "change event published");
        waiter.wait(self.outcome_timeout).await.ok_or_else(|| {
            tracing::warn!(event.id = %event_id, "outcome did not arrive in time");
            ApiError::Unavailable {
                detail: "the change was accepted into the log but is not applied yet; retry later"
                    .into(),
                retry_after_secs: 5,
            }
        })
    }
}

/// The request id: the client's (`client-request-id`, as Entra sends, or `x-request-id`) or a
/// new one.
fn request_id(req: &HttpRequest) -> String {
    ["client-request-id", "x-request-id"]
        .iter()
        .find_map(|name| req.headers().get(*name)?.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

/// A SCIM JSON response.
pub fn scim_json(status: actix_web::http::StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, SCIM_JSON))
        .body(body.to_string())
}

/// Routes of the whole service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::admin::configure);
    cfg.service(
        web::scope("/scim/v2/{directory}")
            .wrap(actix_web::middleware::from_fn(auth::authenticate))
            .service(
                web::resource("/.search")
                    .route(web::post().to(search::search_all))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users")
                    .route(web::post().to(users::create))
                    .route(web::get().to(users::list))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/.search")
                    .route(web::post().to(users::search))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/{id}")
                    .route(web::get().to(users::get))
                    .route(web::put().to(users::replace))
                    .route(web::patch().to(users::patch))
                    .route(web::delete().to(users::delete))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups")
                    .route(web::post().to(groups::create))
                    .route(web::get().to(groups::list))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/.search")
                    .route(web::post().to(groups::search))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/{id}")
                    .route(web::get().to(groups::get))
                    .route(web::put().to(groups::replace))
                    .route(web::patch().to(groups::patch))
                    .route(web::delete().to(groups::delete))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ServiceProviderConfig")
                    .route(web::get().to(discovery::service_provider_config))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes")
                    .route(web::get().to(discovery::resource_types))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes/{id}")
                    .route(web::get().to(discovery::resource_type))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas")
                    .route(web::get().to(discovery::schemas))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas/{id}")
                    .route(web::get().to(discovery::schema))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found)),
    )
    .service(web::resource("/health/live").route(web::get().to(health::live)))
    .service(web::resource("/health/ready").route(web::get().to(health::ready)))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Scim(ScimError::not_found("no such endpoint")))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Scim(ScimError::new(405, None, "method not allowed on this resource")))
}

/// Middleware: one span per request, one line per response (method, route, status, latency).
/// The query string is not logged: filters carry user names.
pub async fn trace_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "http.request",
        http.method = %req.method(),
        http.route = req.match_pattern().unwrap_or_default(),
        request.id = %request_id(req.request()),
        directory.id = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = next.call(req).instrument(span.clone()).await;
    let status = match &response {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    response
}
