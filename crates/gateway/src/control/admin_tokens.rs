//! Admin tokens through the API: operators issue them (for themselves, other operators or a
//! tenant's admins), list and revoke them; a tenant admin lists and revokes their tenant's.

use chrono::{DateTime, Duration, Utc};
use roster_platform::admin_tokens::{self as tokens, AdminScope, IssueError};
use roster_store::admin_tokens::{self as store, AdminTokenRow};
use roster_store::{audit, control};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, bad_request, not_found, parse_time, time, valid_name};
use crate::error::ApiError;
use crate::state::AppState;

/// An admin token as listed: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminTokenView {
    pub id: Uuid,
    pub subject: String,
    /// `operator` or `tenant`.
    pub scope: String,
    pub tenant_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

fn view(row: &AdminTokenRow, now: DateTime<Utc>) -> AdminTokenView {
    AdminTokenView {
        id: row.id,
        subject: row.subject.clone(),
        scope: row.scope.clone(),
        tenant_id: row.tenant_id,
        created_by: row.created_by.clone(),
        created_at: time(row.created_at),
        expires_at: time(row.expires_at),
        revoked_at: row.revoked_at.map(time),
        status: row.status(now).as_str().to_string(),
    }
}

/// A newly issued admin token, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedAdminToken {
    #[serde(flatten)]
    pub view: AdminTokenView,
    /// The bearer token. Not stored: it cannot be shown again.
    pub token: String,
}

/// `{"subject", "tenantId"?, "expiresAt"?}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminTokenInput {
    /// Who the token is for (a person or a system): the actor of what it changes.
    pub subject: String,
    /// Scope the token to this tenant; without it, an operator's token.
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
    /// RFC 3339; default `auth.admin_token_default_ttl_hours` from now, at most
    /// `auth.admin_token_max_ttl_hours`.
    #[serde(default)]
    pub expires_at: Option<String>,
}

pub async fn issue(
    state: &AppState,
    caller: &Caller,
    input: AdminTokenInput,
) -> Result<IssuedAdminToken, ApiError> {
    caller.require_operator("issue admin tokens")?;
    let subject = valid_name("subject", &input.subject)?;
    let now = Utc::now();
    let max = now + Duration::hours(i64::from(state.auth.admin_token_max_ttl_hours));
    let expires_at = match input.expires_at.as_deref() {
        Some(text) => parse_time("expiresAt", text)?,
        None => now + Duration::hours(i64::from(state.auth.admin_token_default_ttl_hours)),
    };
    if expires_at <= now || expires_at > max {
        return Err(bad_request(format!(
            "expiresAt must be in the future and at most {} hours away",
            state.auth.admin_token_max_ttl_hours
        )));
    }
    let scope = input.tenant_id.map_or(AdminScope::Operator, AdminScope::Tenant);
    let key = state.admin_keys.clone();
    let created_by = caller.subject.clone();
    let mut entry = caller.audit("admin_token.issued");
    entry.tenant_id = input.tenant_id;
    let (row, token) = roster_store::run_write(&state.pool, move |conn| {
        if let Some(tenant) = input.tenant_id
            && control::find_tenant(conn, tenant)?.is_none()
        {
            return Err(not_found(format!("no tenant {tenant}")));
        }
        let (row, token) =
            tokens::issue_stored(conn, &key, &subject, scope, &created_by, expires_at).map_err(
                |e| match e {
                    IssueError::Store(e) => ApiError::from(e),
                    IssueError::Token(e) => ApiError::internal(e),
                },
            )?;
        entry.target_id = Some(row.id.to_string());
        entry.details = serde_json::json!({
            "subject": row.subject,
            "scope": row.scope,
            "expiresAt": time(row.expires_at),
        });
        audit::record(conn, &entry)?;
        Ok((row, token))
    })
    .await?;
    use secrecy::ExposeSecret;
    Ok(IssuedAdminToken { view: view(&row, now), token: token.expose_secret().to_string() })
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<AdminTokenView>, ApiError> {
    caller.require_admin("list admin tokens")?;
    let tenant = caller.own_tenant();
    let rows = roster_store::run_read(&state.pool, move |conn| {
        store::list(conn, tenant).map_err(ApiError::from)
    })
    .await?;
    let now = Utc::now();
    Ok(rows.iter().map(|r| view(r, now)).collect())
}

pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require_admin("revoke admin tokens")?;
    let message = format!("no admin token {id}");
    let missing = move || not_found(message.clone());
    let token_id = Uuid::parse_str(id).map_err(|_| missing())?;
    let caller = caller.clone();
    let mut entry = caller.audit("admin_token.revoked");
    entry.target_id = Some(token_id.to_string());
    roster_store::run_write(&state.pool, move |conn| {
        let row = store::find(conn, token_id)?.ok_or_else(&missing)?;
        match (caller.own_tenant(), row.tenant_id) {
            (None, _) => {}
            (Some(own), Some(tenant)) if own == tenant => {}
            // Another tenant's, or an operator's: out of scope.
            (Some(_), _) => return Err(missing()),
        }
        entry.tenant_id = row.tenant_id;
        entry.details = serde_json::json!({ "subject": row.subject });
        store::revoke(conn, token_id)?;
        audit::record(conn, &entry)?;
        Ok(())
    })
    .await
}
