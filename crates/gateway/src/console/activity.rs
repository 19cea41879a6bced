//! What a directory holds and how it is doing: its health panel, its provisioning log (live and
//! filterable), its users and groups with their product roles and teams.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::guard::{Visitor, is_htmx};
use super::layout::{
    Layout, Link, Tab, directory_tabs, encode, form_error, list_or_dash, ok, query, render, when,
    when_or_never,
};
use crate::control::directories::DirectoryView;
use crate::control::health::{self, Health};
use crate::control::log::{self, LogEntryView, LogQuery};
use crate::control::resources::{self, GroupView, UserView};
use crate::control::{self, Caller};
use crate::lag::PipelineLag;
use crate::state::AppState;

/// The health panel, as shown.
pub struct HealthView {
    pub directory_id: String,
    /// `ok`, `warn` or `bad`: the class; the words say it too.
    pub tone: &'static str,
    pub icon: &'static str,
    pub label: &'static str,
    pub warnings: Vec<String>,
    /// Entra's quarantine rule is met or half met.
    pub quarantine: Option<QuarantineView>,
    pub last_hour: String,
    pub last_day: String,
    pub failure_rate: String,
    pub last_request: String,
    pub last_probe: String,
    pub probe_tone: &'static str,
    pub tokens: String,
    pub pipeline: Vec<(String, String)>,
}

pub struct QuarantineView {
    /// It is met (Entra quarantines), not only half met.
    pub risk: bool,
    pub detail: String,
}

pub fn health_view(directory_id: &str, health: &Health) -> HealthView {
    let (tone, icon, label) = match health.status.as_str() {
        "healthy" => ("ok", "✓", "Healthy"),
        "warning" => ("warn", "!", "Needs attention"),
        _ => ("bad", "✗", "Failing"),
    };
    let counts = |c: &health::Counts| {
        format!(
            "{} requests, {} failed ({} of them reference failures)",
            c.requests, c.failures, c.reference_failures
        )
    };
    let (last_probe, probe_tone) = match &health.last_probe {
        Some(p) if p.succeeded => (format!("✓ succeeded at {}", when(&p.time)), "ok"),
        Some(p) => (format!("✗ failed with {} at {}", p.status, when(&p.time)), "bad"),
        None => ("not yet".to_string(), "warn"),
    };
    let tokens = match (&health.tokens.next_expiry, health.tokens.active) {
        (_, 0) => "none active: Entra cannot connect".to_string(),
        (None, n) => format!("{n} active, none expires"),
        (Some(at), n) => format!(
            "{n} active; the next expires at {}{}",
            when(at),
            if health.tokens.expiring_soon { " (soon)" } else { "" }
        ),
    };
    let pipeline = match health.pipeline.get("groups").and_then(|g| g.as_object()) {
        Some(groups) => groups
            .iter()
            .map(|(group, v)| {
                let lag = v.get("lag").and_then(serde_json::Value::as_i64).unwrap_or_default();
                (group.clone(), format!("{lag} events behind"))
            })
            .collect(),
        None => vec![(
            "pipeline".to_string(),
            health
                .pipeline
                .get("error")
                .and_then(|e| e.as_str())
                .map_or("not measured".to_string(), |e| format!("not measured: {e}")),
        )],
    };
    HealthView {
        directory_id: directory_id.to_string(),
        tone,
        icon,
        label,
        // The quarantine warning has a box of its own.
        warnings: health
            .warnings
            .iter()
            .filter(|w| health.quarantine.status == "ok" || **w != health.quarantine.detail)
            .cloned()
            .collect(),
        quarantine: (health.quarantine.status != "ok").then(|| QuarantineView {
            risk: health.quarantine.status == "risk",
            detail: health.quarantine.detail.clone(),
        }),
        last_hour: counts(&health.last_hour),
        last_day: counts(&health.last_day),
        failure_rate: format!("{:.1} %", health.quarantine.failure_rate * 100.0),
        last_request: when_or_never(health.last_request_at.as_deref(), "never"),
        last_probe,
        probe_tone,
        tokens,
        pipeline,
    }
}

/// The directory's health, as shown.
pub async fn health_of(
    state: &AppState,
    lag: &PipelineLag,
    caller: &Caller,
    directory: &str,
) -> Result<HealthView, ConsoleError> {
    let health = health::health(state, lag, caller, directory).await?;
    Ok(health_view(directory, &health))
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct HealthFragment {
    health: HealthView,
}

/// `GET /console/directories/{id}/health`: the health panel alone (htmx refreshes it).
pub async fn health_panel(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    visitor: Visitor,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let directory = control::directories::get(&state, &visitor.caller, &path).await?;
    let health = health_of(&state, &lag, &visitor.caller, &directory.id.to_string()).await?;
    ok(&HealthFragment { health })
}

/// The frame of a directory's pages: the layout with breadcrumbs, and the tabs.
pub async fn directory_frame(
    state: &AppState,
    visitor: &Visitor,
    directory: &DirectoryView,
    title: &str,
    tab: Tab,
) -> Result<(Layout, Vec<Link>), ConsoleError> {
    let mut layout = Layout::new(format!("{title} · {}", directory.name), Some(visitor));
    if !visitor.is_portal() {
        let tenant =
            control::tenants::get(state, &visitor.caller, &directory.tenant_id.to_string()).await?;
        layout = layout.crumbs_for(
            visitor,
            &[
                (&tenant.name, format!("/console/tenants/{}", tenant.id)),
                (&directory.name, format!("/console/directories/{}", directory.id)),
            ],
        );
    }
    Ok((layout, directory_tabs(directory.id, tab)))
}

// The provisioning log.

#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    /// `success`, `failure`, or empty.
    status: Option<String>,
    /// A status code, e.g. `409` (overrides `status`).
    code: Option<String>,
    resource: Option<String>,
    cursor: Option<String>,
    /// The newest entry the page shows (a refresh answers 204 when there is none newer).
    top: Option<i64>,
}

impl LogParams {
    fn query(&self) -> LogQuery {
        let code = self.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        LogQuery {
            status: code.map(str::to_string).or_else(|| self.status.clone()),
            resource: self.resource.clone(),
            since: None,
            cursor: self.cursor.clone(),
            limit: Some(LOG_PAGE),
        }
    }

    /// The filters as a query string (for the refresh and the next page).
    fn filters(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in
            [("status", &self.status), ("code", &self.code), ("resource", &self.resource)]
        {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        parts.join("&")
    }
}

/// Entries on a page of the log.
const LOG_PAGE: i64 = 50;

pub struct LogRow {
    pub time: String,
    pub method: String,
    pub resource_type: String,
    pub resource: String,
    pub operation: String,
    pub ok: bool,
    /// `✓ 201 Created`, `✗ 409 Conflict`: the symbol and words say it, not only the colour.
    pub outcome: String,
    pub detail: String,
    pub latency_ms: i32,
    pub request_id: String,
    pub probe: bool,
}

fn log_row(e: &LogEntryView) -> LogRow {
    let ok = e.status < 400;
    let reason =
        StatusCode::from_u16(e.status as u16).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let detail = match (&e.scim_type, &e.detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (None, Some(d)) => d.clone(),
        (Some(t), None) => t.clone(),
        (None, None) => String::new(),
    };
    let resource = match (&e.resource_name, &e.resource_id) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => "—".into(),
    };
    LogRow {
        time: when(&e.time),
        method: e.method.clone(),
        resource_type: e.resource_type.clone(),
        resource,
        operation: e.operation.clone(),
        ok,
        outcome: format!("{} {} {reason}", if ok { "✓" } else { "✗" }, e.status),
        detail: if e.reference_failure {
            format!("{detail} (a reference failure: Entra does not count it towards quarantine)")
        } else {
            detail
        },
        latency_ms: e.latency_ms,
        request_id: e.request_id.clone(),
        probe: e.probe,
    }
}

/// The live part of the log page: its entries, and how to refresh them.
pub struct LogTable {
    pub rows: Vec<LogRow>,
    /// The newest entry shown.
    pub top: i64,
    /// Where htmx refreshes the table from (absent on older pages: they do not change).
    pub refresh: Option<String>,
    pub next: Option<String>,
    pub updated: String,
}

/// An option of a select.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The resource types the log's filter offers.
const RESOURCE_TYPES: &[(&str, &str)] = &[
    ("User", "Users"),
    ("Group", "Groups"),
    ("Schema", "Schemas"),
    ("ResourceType", "Resource types"),
    ("ServiceProviderConfig", "Service provider config"),
];

#[derive(Template)]
#[template(path = "console/log.html")]
struct LogPage {
    layout: Layout,
    tabs: Vec<Link>,
    directory_name: String,
    status: String,
    code: String,
    resource: String,
    resources: Vec<Choice>,
    table: LogTable,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/log_table.html")]
struct LogFragment {
    table: LogTable,
}

async fn log_table(
    state: &AppState,
    caller: &Caller,
    directory: &DirectoryView,
    params: &LogParams,
) -> Result<LogTable, crate::error::ApiError> {
    let page =
        log::provisioning_log(state, caller, &directory.id.to_string(), params.query()).await?;
    let base = format!("/console/directories/{}/log", directory.id);
    let filters = params.filters();
    let sep = if filters.is_empty() { "" } else { "&" };
    Ok(LogTable {
        top: page.items.first().map_or(0, |e| e.id),
        rows: page.items.iter().map(log_row).collect(),
        refresh: params.cursor.is_none().then(|| format!("{base}/entries?{filters}")),
        next: page.next_cursor.map(|c| format!("{base}?{filters}{sep}cursor={}", encode(&c))),
        updated: chrono::Utc::now().format("%H:%M:%S UTC").to_string(),
    })
}

/// `GET /console/directories/{id}/log?status=&code=&resource=&cursor=`.
pub async fn log_page(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = control::directories::get(&state, &visitor.caller, &path).await?;
    let params: LogParams = query(&req)?;
    let (layout, tabs) =
        directory_frame(&state, &visitor, &directory, "Provisioning log", Tab::Log).await?;
    let (status, table, error) = match log_table(&state, &visitor.caller, &directory, &params).await
    {
        Ok(table) => (StatusCode::OK, table, None),
        Err(error) => match form_error(&error) {
            Some((status, message)) => {
                let unfiltered = LogParams::default();
                let table = log_table(&state, &visitor.caller, &directory, &unfiltered).await?;
                (status, table, Some(message))
            }
            None => return Err(error.into()),
        },
    };
    let page = LogPage {
        layout,
        tabs,
        directory_name: directory.name.clone(),
        status: params.status.clone().unwrap_or_default(),
        code: params.code.clone().unwrap_or_default(),
        resources: RESOURCE_TYPES
            .iter()
            .map(|(value, label)| Choice {
                value,
                label,
                selected: params.resource.as_deref() == Some(*value),
            })
            .collect(),
        resource: params.resource.clone().unwrap_or_default(),
        table,
        error,
    };
    render(status, &page)
}

/// `GET /console/directories/{id}/log/entries?…&top=N`: the log's table (htmx refreshes it
/// every few seconds); `204 No Content` when nothing newer than `top` came.
pub async fn log_entries(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = control::directories::get(&state, &visitor.caller, &path).await?;
    let params: LogParams = query(&req)?;
    let table = log_table(&state, &visitor.caller, &directory, &params).await?;
    if is_htmx(&req) && params.top == Some(table.top) {
        return Ok(HttpResponse::NoContent().finish());
    }
    ok(&LogFragment { table })
}

// Users and groups.

#[derive(Debug, Default, Deserialize)]
struct UsersQuery {
    #[serde(rename = "userName")]
    user_name: Option<String>,
    cursor: Option<String>,
}

pub struct UserRow {
    pub user_name: String,
    pub display_name: String,
    pub active: bool,
    pub product_roles: String,
    pub teams: String,
    pub app_roles: String,
    pub groups: String,
    pub seen: bool,
}

fn user_row(u: &UserView) -> UserRow {
    let (product_roles, teams) = match &u.access {
        Some(access) => {
            let mut teams = Vec::new();
            if let Some(primary) = &access.primary_team {
                teams.push(format!("{} (primary)", primary.display_name));
            }
            teams.extend(access.additional_teams.iter().map(|t| t.display_name.clone()));
            (list_or_dash(&access.product_roles), list_or_dash(&teams))
        }
        None => ("not yet mapped".to_string(), "—".to_string()),
    };
    let groups: Vec<&str> = u.groups.iter().map(|g| g.display_name.as_str()).collect();
    UserRow {
        user_name: u.user_name.clone(),
        display_name: u.display_name.clone().unwrap_or_else(|| "—".into()),
        active: u.active,
        product_roles,
        teams,
        app_roles: list_or_dash(&u.app_roles),
        groups: list_or_dash(&groups),
        seen: u.access.is_some(),
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    layout: Layout,
    tabs: Vec<Link>,
    directory_name: String,
    user_name: String,
    users: Vec<UserRow>,
    next: Option<String>,
    error: Option<String>,
}

/// `GET /console/directories/{id}/users?userName=&cursor=`.
pub async fn users_page(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = control::directories::get(&state, &visitor.caller, &path).await?;
    let q: UsersQuery = query(&req)?;
    let (layout, tabs) = directory_frame(&state, &visitor, &directory, "Users", Tab::Users).await?;
    let id = directory.id.to_string();
    let filter = q.user_name.clone().unwrap_or_default();
    let (status, page, error) = filtered_page(|filtered| {
        let (prefix, cursor) =
            if filtered { (q.user_name.clone(), q.cursor.as_deref()) } else { (None, None) };
        resources::list_users(&state, &visitor.caller, &id, prefix, cursor, None)
    })
    .await?;
    let page = UsersPage {
        layout,
        tabs,
        directory_name: directory.name.clone(),
        next: page.next_cursor.map(|c| next_page(&id, "users", "userName", &filter, &c)),
        users: page.items.iter().map(user_row).collect(),
        user_name: filter,
        error,
    };
    render(status, &page)
}

#[derive(Debug, Default, Deserialize)]
struct GroupsQuery {
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    cursor: Option<String>,
}

pub struct GroupRow {
    pub display_name: String,
    pub external_id: String,
    pub member_count: i64,
    pub team: bool,
    pub product_roles: String,
}

fn group_row(g: &GroupView) -> GroupRow {
    GroupRow {
        display_name: g.display_name.clone(),
        external_id: g.external_id.clone().unwrap_or_else(|| "—".into()),
        member_count: g.member_count,
        team: g.team,
        product_roles: list_or_dash(&g.product_roles),
    }
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    layout: Layout,
    tabs: Vec<Link>,
    directory_name: String,
    display_name: String,
    groups: Vec<GroupRow>,
    next: Option<String>,
    error: Option<String>,
}

/// `GET /console/directories/{id}/groups?displayName=&cursor=`.
pub async fn groups_page(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = control::directories::get(&state, &visitor.caller, &path).await?;
    let q: GroupsQuery = query(&req)?;
    let (layout, tabs) =
        directory_frame(&state, &visitor, &directory, "Groups", Tab::Groups).await?;
    let id = directory.id.to_string();
    let filter = q.display_name.clone().unwrap_or_default();
    let (status, page, error) = filtered_page(|filtered| {
        let (prefix, cursor) =
            if filtered { (q.display_name.clone(), q.cursor.as_deref()) } else { (None, None) };
        resources::list_groups(&state, &visitor.caller, &id, prefix, cursor, None)
    })
    .await?;
    let page = GroupsPage {
        layout,
        tabs,
        directory_name: directory.name.clone(),
        next: page.next_cursor.map(|c| next_page(&id, "groups", "displayName", &filter, &c)),
        groups: page.items.iter().map(group_row).collect(),
        display_name: filter,
        error,
    };
    render(status, &page)
}

/// A list page as the visitor's filter and cursor ask (`list(true)`), or, when they are
/// refused (400: a control character, a cursor this console did not give), the first page
/// unfiltered with the message.
async fn filtered_page<T, F, Fut>(
    list: F,
) -> Result<(StatusCode, roster_store::page::Page<T>, Option<String>), ConsoleError>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<roster_store::page::Page<T>, crate::error::ApiError>>,
{
    match list(true).await {
        Ok(page) => Ok((StatusCode::OK, page, None)),
        Err(error) => match form_error(&error) {
            Some((status, message)) => Ok((status, list(false).await?, Some(message))),
            None => Err(error.into()),
        },
    }
}

/// The link to the next page of a directory's users or groups.
fn next_page(directory: &str, list: &str, field: &str, filter: &str, cursor: &str) -> String {
    format!(
        "/console/directories/{directory}/{list}?{field}={}&cursor={}",
        encode(filter),
        encode(cursor)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_round_trip_through_the_query_string() {
        let params = LogParams {
            status: Some("failure".into()),
            code: Some("".into()),
            resource: Some("User".into()),
            ..LogParams::default()
        };
        assert_eq!(params.filters(), "status=failure&resource=User");
        assert_eq!(params.query().status.as_deref(), Some("failure"));
        let coded = LogParams { code: Some(" 409 ".into()), ..params };
        assert_eq!(coded.query().status.as_deref(), Some("409"));
    }
}
