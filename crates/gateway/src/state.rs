//! What every handler shares ([`AppState`]), and the heart of "produce, then answer":
//! [`AppState::submit_for`] publishes a change event and waits for the projector's outcome of
//! it, answering only after the broker acknowledged it and the outcome is known.

use std::time::Duration;

use actix_web::HttpRequest;
use chrono::Utc;
use roster_events::{Change, ChangeEvent};
use roster_store::PgPool;
use roster_store::outcomes::OutcomeRow;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::hub::OutcomeHub;
use crate::in_flight::InFlight;
use crate::publish::Publisher;

/// One actix worker's connections for point lookups (`GET /Users/{id}`, and a lone indexed `eq`
/// as Entra matches with): an index probe each, so no slow query ever holds them. Each worker
/// has its own ([`roster_store::lookup`]); the workers share `database.lookup_pool_size`.
pub struct Lookups(pub roster_store::lookup::LookupPool);

impl Lookups {
    /// A connection of this worker's pool.
    pub async fn checkout(&self) -> Result<roster_store::lookup::LookupConnection, ApiError> {
        Ok(roster_store::lookup::checkout(&self.0).await?)
    }
}

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
    /// Keys and lifetimes of tokens (the control plane issues them).
    pub auth: roster_platform::settings::AuthSettings,
    /// The keys of SCIM secret tokens, and of admin tokens, console sessions and portal links.
    pub scim_keys: roster_platform::keys::Keys,
    pub admin_keys: roster_platform::keys::Keys,
    /// The console's and portal links' settings.
    pub console: roster_platform::settings::ConsoleSettings,
}

impl AppState {
    /// The URL of the SCIM root of a directory (the Tenant URL).
    pub fn scim_root(&self, directory_id: Uuid) -> String {
        roster_platform::settings::tenant_url(&self.base_url, &directory_id.to_string())
    }

    /// The URL of a resource of a directory (`resource_type` is `Users` or `Groups`): its
    /// `Location` header and `meta.location`.
    pub fn location(&self, directory_id: Uuid, resource_type: &str, id: Uuid) -> String {
        format!("{}/{resource_type}/{id}", self.scim_root(directory_id))
    }

    /// Publish `change` as an event of the principal's directory and wait for its outcome.
    pub async fn submit(
        &self,
        principal: &Principal,
        change: Change,
        req: &HttpRequest,
    ) -> Result<OutcomeRow, ApiError> {
        let actor = Actor::ScimToken(principal.token_id);
        let request_id = request_id(req);
        self.submit_for(principal.directory_id, principal.tenant_id, &actor, request_id, change)
            .await
    }

    /// Publish `change` as an event of a directory and wait for its outcome.
    pub async fn submit_for(
        &self,
        directory_id: Uuid,
        tenant_id: Uuid,
        actor: &Actor,
        request_id: String,
        change: Change,
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
            request_id,
            actor_token_id: actor.as_event_field(),
            change: Some(change),
        };
        let waiter = self.hub.register(event_id);
        let (partition, offset) = self.publisher.publish(&event).await?;
        self.hub.wake_consumers();
        tracing::debug!(event.id = %event_id, kafka.partition = partition, kafka.offset = offset, "change event published");
        let waited = std::time::Instant::now();
        let outcome = waiter.wait(self.outcome_timeout).await;
        let result = match &outcome {
            Some(o) if o.status >= 400 => "rejected",
            Some(_) => "applied",
            None => "timeout",
        };
        metrics::histogram!("roster_outcome_wait_seconds", "result" => result)
            .record(waited.elapsed());
        outcome.ok_or_else(|| {
            tracing::warn!(event.id = %event_id, "outcome did not arrive in time");
            ApiError::Unavailable {
                detail: "the change was accepted into the log but is not applied yet; retry later"
                    .into(),
                retry_after_secs: 5,
            }
        })
    }
}

/// Who made a change, as its event records it (`actor_token_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A SCIM request, by the id of the secret token that authenticated it.
    ScimToken(Uuid),
    /// The control plane (admin API, console), by the admin token or portal link behind it.
    ControlPlane(Option<Uuid>),
}

impl Actor {
    /// The event's `actor_token_id`: the token's id; empty for a control-plane change without one.
    pub fn as_event_field(&self) -> String {
        match self {
            Actor::ScimToken(id) | Actor::ControlPlane(Some(id)) => id.to_string(),
            Actor::ControlPlane(None) => String::new(),
        }
    }
}

/// A request's id, once chosen (kept in the request's extensions).
#[derive(Debug, Clone)]
struct RequestId(String);

/// The request id: the client's (`client-request-id`, as Entra sends, or `x-request-id`: at
/// most 128 visible ASCII characters) or a new one, the same every time it is asked for.
pub(crate) fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    if let Some(RequestId(id)) = req.extensions().get::<RequestId>() {
        return id.clone();
    }
    let id = ["client-request-id", "x-request-id"]
        .iter()
        .find_map(|name| req.headers().get(*name)?.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    id
}
