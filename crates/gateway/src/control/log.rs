//! The provisioning log of a directory (one entry per SCIM request) and the audit log (one
//! entry per control-plane change).

use roster_store::audit::{self, AuditEntry, AuditFilter};
use roster_store::page::Page;
use roster_store::provisioning_log::{self, LogEntry, LogFilter, StatusFilter};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, bad_request, not_found, page, parse_time, time};
use crate::error::ApiError;
use crate::state::AppState;

/// One SCIM request of a directory.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryView {
    pub id: i64,
    pub time: String,
    pub method: String,
    /// `User`, `Group`, `Schema`, `ResourceType`, `ServiceProviderConfig`, …
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The userName or displayName, when the request or its answer named it.
    pub resource_name: Option<String>,
    /// What the request did, in short: `create`, `patch: replace active`, `filter userName eq`, …
    pub operation: String,
    pub status: i16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub latency_ms: i32,
    /// The client's request id (Entra's `client-request-id`), else the gateway's.
    pub request_id: String,
    /// The SCIM token that made the request.
    pub token_id: Option<Uuid>,
    /// A failure Entra does not count towards quarantine (an unresolvable member or manager).
    pub reference_failure: bool,
    /// The shape of Entra's Test Connection probe.
    pub probe: bool,
}

pub fn entry_view(stored: LogEntry) -> LogEntryView {
    let e = stored.entry;
    LogEntryView {
        id: stored.id,
        time: time(e.at),
        method: e.method,
        resource_type: e.resource_type,
        resource_id: e.resource_id,
        resource_name: e.resource_name,
        operation: e.operation,
        status: e.status,
        scim_type: e.scim_type,
        detail: e.detail,
        latency_ms: e.latency_ms,
        request_id: e.request_id,
        token_id: e.token_id,
        reference_failure: e.reference_failure,
        probe: e.probe,
    }
}

/// The query of the provisioning log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// `success`, `failure`, or an HTTP status code.
    pub status: Option<String>,
    /// A resource type.
    pub resource: Option<String>,
    /// RFC 3339: only entries at or after it.
    pub since: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

fn filter(query: &LogQuery) -> Result<LogFilter, ApiError> {
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("success") => Some(StatusFilter::Success),
        Some("failure") => Some(StatusFilter::Failure),
        Some(code) => match code.parse::<i16>() {
            Ok(code) if (100..=599).contains(&code) => Some(StatusFilter::Code(code)),
            _ => {
                return Err(bad_request(
                    "status must be success, failure, or an HTTP status code such as 409",
                ));
            }
        },
    };
    let resource_type = match query.resource.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(canonical_resource_type(name))
        }
        Some(_) => {
            return Err(bad_request("resource must be a resource type such as User or Group"));
        }
    };
    let since = query
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_time("since", s))
        .transpose()?;
    Ok(LogFilter { status, resource_type, since })
}

/// `user`, `Users` → `User`: the resource types the log records, in any case or plural.
fn canonical_resource_type(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let singular = lower.strip_suffix('s').unwrap_or(&lower);
    for known in
        ["User", "Group", "Schema", "ResourceType", "ServiceProviderConfig", "Search", "Unknown"]
    {
        if known.eq_ignore_ascii_case(singular) || known.eq_ignore_ascii_case(&lower) {
            return known.to_string();
        }
    }
    name.to_string()
}

pub async fn provisioning_log(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    query: LogQuery,
) -> Result<Page<LogEntryView>, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let filter = filter(&query)?;
    let page = page(query.cursor.as_deref(), query.limit, 2)?;
    let entries = roster_store::run_read(&state.pool, move |conn| {
        provisioning_log::list(conn, directory.id, &filter, &page).map_err(ApiError::from)
    })
    .await?;
    Ok(entries.map(entry_view))
}

/// One control-plane change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    pub id: i64,
    pub time: String,
    /// The admin token's subject, or the portal link.
    pub actor: String,
    pub actor_token_id: Option<Uuid>,
    /// `tenant.created`, `directory.deleted`, `scim_token.issued`, `role_mappings.changed`, …
    pub action: String,
    pub tenant_id: Option<Uuid>,
    pub directory_id: Option<Uuid>,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn audit_view(stored: AuditEntry) -> AuditEntryView {
    let e = stored.entry;
    AuditEntryView {
        id: stored.id,
        time: time(stored.at),
        actor: e.actor,
        actor_token_id: e.actor_token_id,
        action: e.action,
        tenant_id: e.tenant_id,
        directory_id: e.directory_id,
        target_id: e.target_id,
        details: e.details,
    }
}

/// The audit log: an operator's, all of it (or of a tenant or directory); a tenant admin's,
/// their tenant's.
pub async fn audit_log(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    directory: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<AuditEntryView>, ApiError> {
    caller.require_admin("read the audit log")?;
    let mut filter = AuditFilter::default();
    if let Some(tenant) = tenant.filter(|t| !t.is_empty()) {
        filter.tenant_id = Some(super::tenant_in_scope(state, caller, tenant).await?.id);
    }
    if let Some(directory) = directory.filter(|d| !d.is_empty()) {
        filter.directory_id = Some(super::directory_in_scope(state, caller, directory).await?.id);
    }
    if let Some(own) = caller.own_tenant() {
        match filter.tenant_id {
            Some(t) if t != own => return Err(not_found(format!("no tenant {t}"))),
            _ => filter.tenant_id = Some(own),
        }
    }
    let page = page(cursor, limit, 1)?;
    let entries = roster_store::run_read(&state.pool, move |conn| {
        audit::list(conn, &filter, &page).map_err(ApiError::from)
    })
    .await?;
    Ok(entries.map(audit_view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_and_resource_filters_are_checked() {
        let q = |status: &str, resource: &str| LogQuery {
            status: Some(status.into()),
            resource: Some(resource.into()),
            ..LogQuery::default()
        };
        let f = filter(&q("failure", "users")).ok().unwrap_or_default();
        assert_eq!(f.status, Some(StatusFilter::Failure));
        assert_eq!(f.resource_type.as_deref(), Some("User"));
        assert_eq!(
            filter(&q("409", "Group")).ok().and_then(|f| f.status),
            Some(StatusFilter::Code(409))
        );
        for (status, resource) in [("1000", ""), ("ok", ""), ("", "Us ers"), ("", "x'; drop")] {
            assert!(filter(&q(status, resource)).is_err(), "{status:?} {resource:?}");
        }
        let since = LogQuery { since: Some("yesterday".into()), ..LogQuery::default() };
        assert!(filter(&since).is_err());
    }
}
