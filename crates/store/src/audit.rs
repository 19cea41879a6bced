//! The audit log: every change made through the admin API or the console, with its actor.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::schema::audit_log;

/// What is recorded of one change.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    /// The token's subject (or `portal link <id>` for a portal visitor).
    pub actor: String,
    pub actor_token_id: Option<Uuid>,
    /// `tenant.created`, `scim_token.revoked`, …
    pub action: String,
    pub tenant_id: Option<Uuid>,
    pub directory_id: Option<Uuid>,
    /// The id of what changed, when it is not the tenant or directory itself.
    pub target_id: Option<String>,
    /// What changed, never a secret.
    pub details: serde_json::Value,
}

/// One change as stored: its id, its time, and what was recorded.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[diesel(embed)]
    pub entry: NewAuditEntry,
}

pub fn record(conn: &mut PgConnection, entry: &NewAuditEntry) -> QueryResult<()> {
    diesel::insert_into(audit_log::table).values(entry).execute(conn).map(drop)
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant_id: Option<Uuid>,
    pub directory_id: Option<Uuid>,
}

/// Entries newest first, a page at a time (the cursor is the last id).
pub fn list(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    page: &PageRequest,
) -> QueryResult<Page<AuditEntry>> {
    let mut query = audit_log::table.select(AuditEntry::as_select()).into_boxed();
    if let Some(tenant) = filter.tenant_id {
        query = query.filter(audit_log::tenant_id.eq(tenant));
    }
    if let Some(directory) = filter.directory_id {
        query = query.filter(audit_log::directory_id.eq(directory));
    }
    if let Some(before) = page.after.as_deref().and_then(|p| p.first()?.parse::<i64>().ok()) {
        query = query.filter(audit_log::id.lt(before));
    }
    let rows = query.order(audit_log::id.desc()).limit(page.limit + 1).load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |e: &AuditEntry| vec![e.id.to_string()]))
}
