//! What a directory holds and how it is doing: users and groups with their product roles,
//! the provisioning log, health, and the notifications Events API.

use actix_web::{HttpRequest, get, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Answer, ListOf, Problem, ok, query};
use crate::control::health::{self, Health};
use crate::control::log::{self, LogEntryView, LogQuery};
use crate::control::resources::{self, GroupView, UserDetailView, UserView};
use crate::control::{Caller, bad_request};
use crate::error::ApiError;
use crate::lag::PipelineLag;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(get_user)
        .service(list_groups)
        .service(provisioning_log)
        .service(directory_health)
        .service(list_notifications);
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct UsersQuery {
    /// Users whose userName starts with this, case-insensitively.
    user_name: Option<String>,
    cursor: Option<String>,
    /// 1–500, default 100.
    limit: Option<i64>,
}

/// The directory's users in userName order, with their product roles and teams.
#[utoipa::path(
    tag = "users and groups",
    params(("directoryId" = String, Path), UsersQuery),
    responses((status = 200, body = ListOf<UserView>, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/users")]
async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    let q: UsersQuery = query(&req)?;
    let page =
        resources::list_users(&state, &caller, &path, q.user_name, q.cursor.as_deref(), q.limit)
            .await?;
    ok(&ListOf::from(page))
}

/// One user, with product roles, teams, groups and its SCIM resource.
#[utoipa::path(
    tag = "users and groups",
    params(("directoryId" = String, Path), ("userId" = String, Path)),
    responses((status = 200, body = UserDetailView, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/users/{userId}")]
async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Answer {
    let (directory, user) = path.into_inner();
    ok(&resources::get_user(&state, &caller, &directory, &user).await?)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct GroupsQuery {
    /// Groups whose displayName starts with this, case-insensitively.
    display_name: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// The directory's groups in displayName order, with member count, team and product roles.
#[utoipa::path(
    tag = "users and groups",
    params(("directoryId" = String, Path), GroupsQuery),
    responses((status = 200, body = ListOf<GroupView>, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/groups")]
async fn list_groups(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    let q: GroupsQuery = query(&req)?;
    let page = resources::list_groups(
        &state,
        &caller,
        &path,
        q.display_name,
        q.cursor.as_deref(),
        q.limit,
    )
    .await?;
    ok(&ListOf::from(page))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogParams {
    /// `success`, `failure`, or an HTTP status code.
    status: Option<String>,
    /// A resource type: `User`, `Group`, …
    resource: Option<String>,
    /// RFC 3339: entries at or after it.
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// The provisioning log: every SCIM request of the directory, newest first, with its outcome.
#[utoipa::path(
    tag = "provisioning log",
    params(("directoryId" = String, Path), LogParams),
    responses((status = 200, body = ListOf<LogEntryView>, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/provisioning-log")]
async fn provisioning_log(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    let p: LogParams = query(&req)?;
    let query = LogQuery {
        status: p.status,
        resource: p.resource,
        since: p.since,
        cursor: p.cursor,
        limit: p.limit,
    };
    ok(&ListOf::from(log::provisioning_log(&state, &caller, &path, query).await?))
}

/// Traffic and failures against Entra's quarantine rule, the last call and Test Connection
/// probe, token expiry and the pipeline's lag.
#[utoipa::path(
    tag = "provisioning log",
    params(("directoryId" = String, Path)),
    responses((status = 200, body = Health, description = "OK"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/health")]
async fn directory_health(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    caller: Caller,
    path: web::Path<String>,
) -> Answer {
    ok(&health::health(&state, &lag, &caller, &path).await?)
}

/// Largest page of the Events API.
const MAX_NOTIFICATIONS_PAGE: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationsQuery {
    /// The sequence to read after (0: from the first).
    after: Option<i64>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

/// A page of the Events API.
#[derive(Debug, serde::Serialize, ToSchema)]
struct Notifications {
    /// The notifications, as JSON (docs/events.md).
    #[schema(value_type = Vec<Object>)]
    notifications: Vec<serde_json::Value>,
    /// Pass as `after` for the next page.
    next_after: i64,
}

/// The Events API: the directory's notifications after a sequence, oldest first, from the
/// outbox (published or not yet).
#[utoipa::path(
    tag = "notifications",
    params(("directoryId" = String, Path), NotificationsQuery),
    responses((status = 200, body = Notifications, description = "OK"), (status = 400, body = Problem, description = "The input is invalid"), (status = 404, body = Problem, description = "Not found, or out of this token's scope"))
)]
#[get("/directories/{directoryId}/notifications")]
async fn list_notifications(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Answer {
    let directory = crate::control::directory_in_scope(&state, &caller, &path).await?;
    let q: NotificationsQuery = query(&req)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if after < 0 || !(1..=MAX_NOTIFICATIONS_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "after must be ≥ 0 and limit between 1 and {MAX_NOTIFICATIONS_PAGE}"
        ))
        .into());
    }
    let id = directory.id;
    let rows = roster_store::run_read(&state.pool, move |conn| {
        roster_store::outbox::list_after(conn, id, after, limit).map_err(ApiError::from)
    })
    .await?;
    let mut notifications = Vec::with_capacity(rows.len());
    for row in &rows {
        let decoded = roster_events::notification::decode_notification(&row.payload)
            .map_err(ApiError::internal)?;
        notifications.push(roster_events::notification::to_json(&decoded));
    }
    let next_after = rows.last().map_or(after, |r| r.sequence);
    ok(&Notifications { notifications, next_after })
}
