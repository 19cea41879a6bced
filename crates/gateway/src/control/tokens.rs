//! SCIM secret tokens of a directory: issue (shown once), list (never the secret), revoke.
//! Rotation is issuing a new token while the old one keeps working until it is revoked.

use chrono::{DateTime, Utc};
use roster_platform::tokens::{self, IssueError};
use roster_store::audit;
use roster_store::control::{self, ScimToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, bad_request, not_found, parse_time, time, valid_description};
use crate::error::ApiError;
use crate::state::AppState;

/// A token as listed: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: Uuid,
    pub description: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

pub fn view(token: &ScimToken, now: DateTime<Utc>) -> TokenView {
    TokenView {
        id: token.id,
        description: token.description.clone(),
        created_at: time(token.created_at),
        last_used_at: token.last_used_at.map(time),
        expires_at: token.expires_at.map(time),
        revoked_at: token.revoked_at.map(time),
        status: token.status(now).as_str().to_string(),
    }
}

/// A newly issued token: the secret, shown this once, and where to paste it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub id: Uuid,
    /// The Secret Token for Entra. Not stored: it cannot be shown again.
    pub token: String,
    /// The Tenant URL for Entra.
    pub tenant_url: String,
    pub description: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// `{"expiresAt"?, "description"?}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInput {
    /// RFC 3339, in the future. Without it the token never expires, which is what Entra wants:
    /// it quarantines a job whose token expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

pub async fn issue(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    input: TokenInput,
) -> Result<IssuedToken, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let description = valid_description("description", input.description.as_deref())?;
    let expires_at = match input.expires_at.as_deref() {
        Some(text) => {
            let at = parse_time("expiresAt", text)?;
            if at <= Utc::now() {
                return Err(bad_request("expiresAt must be in the future"));
            }
            Some(at)
        }
        None => None,
    };
    let key = state.scim_keys.clone();
    let mut entry = caller.audit("scim_token.issued");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    let directory_id = directory.id;
    let (row, token) = roster_store::run_write(&state.pool, move |conn| {
        let (row, token) = tokens::issue_stored(conn, &key, directory_id, &description, expires_at)
            .map_err(|e| match e {
                IssueError::NoDirectory(id) => not_found(format!("no directory {id}")),
                IssueError::Store(e) => ApiError::from(e),
                IssueError::Token(e) => ApiError::internal(e),
            })?;
        entry.target_id = Some(row.id.to_string());
        entry.details = serde_json::json!({
            "description": row.description,
            "expiresAt": row.expires_at.map(time),
        });
        audit::record(conn, &entry)?;
        Ok::<_, ApiError>((row, token))
    })
    .await?;
    use secrecy::ExposeSecret;
    Ok(IssuedToken {
        id: row.id,
        token: token.expose_secret().to_string(),
        tenant_url: state.scim_root(directory_id),
        description: row.description,
        created_at: time(row.created_at),
        expires_at: row.expires_at.map(time),
    })
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    directory: &str,
) -> Result<Vec<TokenView>, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let rows = roster_store::run_read(&state.pool, move |conn| {
        control::list_tokens(conn, directory.id).map_err(ApiError::from)
    })
    .await?;
    let now = Utc::now();
    Ok(rows.iter().map(|t| view(t, now)).collect())
}

/// Revoke a token of the directory (again is no error); gateways refuse it at once.
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    token: &str,
) -> Result<(), ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let message = format!("no token {token} in this directory");
    let missing = move || not_found(message.clone());
    let token_id = Uuid::parse_str(token).map_err(|_| missing())?;
    let mut entry = caller.audit("scim_token.revoked");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    entry.target_id = Some(token_id.to_string());
    roster_store::run_write(&state.pool, move |conn| {
        match control::find_token(conn, token_id)? {
            Some(row) if row.directory_id == directory.id => {}
            _ => return Err(missing()),
        }
        control::revoke_token(conn, token_id)?;
        audit::record(conn, &entry)?;
        Ok(())
    })
    .await
}
