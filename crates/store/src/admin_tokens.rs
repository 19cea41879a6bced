//! Admin API tokens as stored: the JWT's `jti` is the row's id, and a token is valid only while
//! its row is neither expired nor revoked. The token itself is shown once and never stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::control::{TOKENS_REVOKED_CHANNEL, TokenStatus};
use crate::schema::admin_tokens;

/// One admin token.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens)]
pub struct AdminTokenRow {
    pub id: Uuid,
    /// Who it was issued to (a person or a system): the actor of what it changes.
    pub subject: String,
    /// `operator` or `tenant`.
    pub scope: String,
    /// The tenant of a `tenant` token.
    pub tenant_id: Option<Uuid>,
    /// Who issued it (the subject of the token that did, or `roster admin-token issue`'s user).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AdminTokenRow {
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        TokenStatus::of(self.revoked_at, Some(self.expires_at), now)
    }
}

pub fn insert(conn: &mut PgConnection, row: &AdminTokenRow) -> QueryResult<()> {
    diesel::insert_into(admin_tokens::table).values(row).execute(conn).map(drop)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<AdminTokenRow>> {
    admin_tokens::table.find(id).select(AdminTokenRow::as_select()).first(conn).optional()
}

/// Admin tokens, newest first: every one, or a tenant's.
pub fn list(conn: &mut PgConnection, tenant: Option<Uuid>) -> QueryResult<Vec<AdminTokenRow>> {
    let mut query = admin_tokens::table.select(AdminTokenRow::as_select()).into_boxed();
    if let Some(tenant) = tenant {
        query = query.filter(admin_tokens::tenant_id.eq(tenant));
    }
    query.order((admin_tokens::created_at.desc(), admin_tokens::id)).load(conn)
}

/// Revoke a token (a revoked one stays revoked, with its first time); every gateway is told at
/// once through the revocation channel. Returns false if there is no such token.
pub fn revoke(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::update(admin_tokens::table.find(id))
        .filter(admin_tokens::revoked_at.is_null())
        .set(admin_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)?;
    let exists = find(conn, id)?.is_some();
    if exists {
        diesel::sql_query(format!("NOTIFY {TOKENS_REVOKED_CHANNEL}, '{id}'")).execute(conn)?;
    }
    Ok(exists)
}
