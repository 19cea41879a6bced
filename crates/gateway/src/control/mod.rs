//! The control plane: every operation of the admin API and the console, written once
//! (docs/designs/0006-control-plane.md). Each function takes the [`Caller`], checks what the
//! caller may see and do, validates its input, writes, and records the audit entry; the admin
//! API (JSON) and the console (HTML) are faces over these.
//!
//! Out of a caller's scope is 404, as if it did not exist; an operation a scope never allows is
//! 403. Invalid input is 400 and writes nothing.

pub mod admin_tokens;
pub mod directories;
pub mod health;
pub mod log;
pub mod mappings;
pub mod portal;
pub mod resources;
pub mod tenants;
pub mod tokens;

use chrono::{DateTime, Utc};
use roster_scim::ScimError;
use roster_store::audit::NewAuditEntry;
use roster_store::control::{self, Directory, Tenant};
use roster_store::page::{Cursor, PageRequest};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Who acts on the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The admin token's subject, or the portal link's description: the audit log's actor.
    pub subject: String,
    /// The admin token or portal link behind the call.
    pub token_id: Option<Uuid>,
    pub scope: Scope,
}

/// What a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant.
    Operator,
    /// One tenant and its directories.
    Tenant(Uuid),
    /// One directory (a portal link: the console's page of that directory, nothing else).
    Directory { tenant_id: Uuid, directory_id: Uuid },
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        self.scope == Scope::Operator
    }

    /// The one tenant a tenant admin or portal visitor is limited to.
    pub fn own_tenant(&self) -> Option<Uuid> {
        match self.scope {
            Scope::Operator => None,
            Scope::Tenant(id) | Scope::Directory { tenant_id: id, .. } => Some(id),
        }
    }

    pub fn sees_tenant(&self, tenant_id: Uuid) -> bool {
        match self.scope {
            Scope::Operator => true,
            Scope::Tenant(id) => id == tenant_id,
            Scope::Directory { .. } => false,
        }
    }

    pub fn sees_directory(&self, directory: &Directory) -> bool {
        match self.scope {
            Scope::Operator => true,
            Scope::Tenant(id) => id == directory.tenant_id,
            Scope::Directory { directory_id, .. } => directory_id == directory.id,
        }
    }

    /// 403 unless the caller is an operator.
    pub fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(forbidden(format!("only an operator may {what}")))
        }
    }

    /// 403 for a portal visitor: what only admins do (tenant-level operations).
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self.scope {
            Scope::Directory { .. } => Err(forbidden(format!("a portal link may not {what}"))),
            _ => Ok(()),
        }
    }

    /// The audit entry of an action of this caller.
    pub fn audit(&self, action: &str) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.subject.clone(),
            actor_token_id: self.token_id,
            action: action.to_string(),
            tenant_id: None,
            directory_id: None,
            target_id: None,
            details: serde_json::json!({}),
        }
    }
}

pub fn forbidden(detail: impl Into<String>) -> ApiError {
    ApiError::Scim(ScimError::new(403, None, detail))
}

pub fn not_found(detail: impl Into<String>) -> ApiError {
    ApiError::Scim(ScimError::not_found(detail))
}

pub fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::Scim(ScimError::new(400, None, detail))
}

pub fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::Scim(ScimError::new(409, None, detail))
}

/// Longest name of a tenant or directory, description of a token, subject of an admin token.
pub const MAX_NAME_CHARS: usize = 200;

/// A name as stored: trimmed, 1–200 characters, no control characters (nor unpaired surrogates,
/// which a Rust string cannot hold), else 400 naming `field`.
pub fn valid_name(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(bad_request(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(bad_request(format!("{field} must be at most {MAX_NAME_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad_request(format!("{field} must not contain control characters")));
    }
    Ok(value.to_string())
}

/// An optional free text (a token's description): empty is allowed, else as [`valid_name`].
pub fn valid_description(field: &str, value: Option<&str>) -> Result<String, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(text) => valid_name(field, text),
    }
}

/// A search prefix: absent or empty is no filter; at most 200 characters, no control characters.
pub fn valid_filter(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => valid_name(field, text).map(Some),
    }
}

/// Largest page of a control-plane list.
pub const MAX_PAGE: i64 = 500;

/// `cursor` and `limit` of a list: limit 1–500 (default 100), a cursor this API gave out with
/// `arity` parts.
pub fn page(
    cursor: Option<&str>,
    limit: Option<i64>,
    arity: usize,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(cursor) => {
            Some(Cursor::decode(cursor, arity).map_err(|e| bad_request(e.to_string()))?)
        }
        None => None,
    };
    Ok(PageRequest { after, limit })
}

/// An RFC 3339 time parameter, else 400 naming `field`.
pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        bad_request(format!("{field} must be an RFC 3339 time such as 2026-12-31T00:00:00Z"))
    })
}

/// A path id as a UUID, else 404 (it cannot name anything).
pub fn path_id(what: &str, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| not_found(format!("no {what} {id}")))
}

/// The tenant `id`, if the caller sees it (else 404).
pub async fn tenant_in_scope(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Tenant, ApiError> {
    let missing = || not_found(format!("no tenant {id}"));
    let tenant_id = path_id("tenant", id)?;
    if !caller.sees_tenant(tenant_id) {
        return Err(missing());
    }
    roster_store::run_read(&state.pool, move |conn| {
        control::find_tenant(conn, tenant_id).map_err(ApiError::from)
    })
    .await?
    .ok_or_else(missing)
}

/// The directory `id`, if the caller sees it (else 404).
pub async fn directory_in_scope(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Directory, ApiError> {
    let missing = || not_found(format!("no directory {id}"));
    let directory_id = path_id("directory", id)?;
    let found = roster_store::run_read(&state.pool, move |conn| {
        control::find_directory(conn, directory_id).map_err(ApiError::from)
    })
    .await?;
    found.filter(|d| caller.sees_directory(d)).ok_or_else(missing)
}

/// Record an audit entry on its own (after a change made through the log).
pub async fn record(state: &AppState, entry: NewAuditEntry) -> Result<(), ApiError> {
    roster_store::run_write(&state.pool, move |conn| {
        roster_store::audit::record(conn, &entry).map_err(ApiError::from)
    })
    .await
}

/// A time as the API shows it: RFC 3339, milliseconds, `Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(valid_name("name", "  Contoso ").ok().as_deref(), Some("Contoso"));
        assert_eq!(valid_name("name", "日本語の会社").ok().as_deref(), Some("日本語の会社"));
        for bad in ["", "   ", "a\u{0}b", "a\nb", "\u{7f}", "\u{9b}x"] {
            assert!(valid_name("name", bad).is_err(), "{bad:?}");
        }
        assert!(valid_name("name", &"é".repeat(200)).is_ok());
        assert!(valid_name("name", &"é".repeat(201)).is_err());
        assert_eq!(valid_description("description", None).ok().as_deref(), Some(""));
    }

    #[test]
    fn scopes_see_what_they_own() {
        let tenant = Uuid::new_v4();
        let directory = Directory {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            name: "d".into(),
            deprovision_policy: "tombstone".into(),
            created_at: Utc::now(),
            initial_deprovision_policy: "tombstone".into(),
        };
        let caller = |scope| Caller { subject: "t".into(), token_id: None, scope };
        assert!(caller(Scope::Operator).sees_directory(&directory));
        assert!(caller(Scope::Tenant(tenant)).sees_directory(&directory));
        assert!(!caller(Scope::Tenant(Uuid::new_v4())).sees_directory(&directory));
        let portal = caller(Scope::Directory { tenant_id: tenant, directory_id: directory.id });
        assert!(portal.sees_directory(&directory));
        assert!(!portal.sees_tenant(tenant));
        let other = Directory { id: Uuid::new_v4(), ..directory };
        assert!(!portal.sees_directory(&other));
        assert!(caller(Scope::Tenant(tenant)).require_operator("x").is_err());
        assert!(portal.require_admin("x").is_err());
    }
}
