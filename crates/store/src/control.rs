//! The control plane: tenants, directories and SCIM secret tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{directories, scim_tokens, tenants};
use crate::sql::lower;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = directories)]
pub struct Directory {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub deprovision_policy: String,
    pub created_at: DateTime<Utc>,
}

impl Directory {
    /// What DELETE does in this directory (a stored value other than `erase` tombstones).
    pub fn policy(&self) -> DeprovisionPolicy {
        DeprovisionPolicy::parse(&self.deprovision_policy).unwrap_or_default()
    }
}

/// What DELETE /Users/{id} and /Groups/{id} do in a directory: keep a tombstone (`deleted_at`
/// set) or erase the row. Stored, sent in events and accepted in settings as `tombstone` or
/// `erase`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeprovisionPolicy {
    #[default]
    Tombstone,
    Erase,
}

impl DeprovisionPolicy {
    /// The policy `value` names, exactly `tombstone` or `erase`.
    pub fn parse(value: &str) -> Option<DeprovisionPolicy> {
        match value {
            "tombstone" => Some(DeprovisionPolicy::Tombstone),
            "erase" => Some(DeprovisionPolicy::Erase),
            _ => None,
        }
    }

    /// The name stored in the `deprovision_policy` column and sent in events.
    pub fn as_str(self) -> &'static str {
        match self {
            DeprovisionPolicy::Tombstone => "tombstone",
            DeprovisionPolicy::Erase => "erase",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scim_tokens)]
pub struct ScimToken {
    pub id: Uuid,
    pub directory_id: Uuid,
    pub token_sha256: Vec<u8>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Find a tenant by name (case-insensitive).
pub fn find_tenant_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(lower(tenants::name).eq(lower(name)))
        .select(Tenant::as_select())
        .first(conn)
        .optional()
}

/// Create a tenant, or return the one that already has this name.
pub fn ensure_tenant(conn: &mut PgConnection, name: &str) -> QueryResult<Tenant> {
    if let Some(t) = find_tenant_by_name(conn, name)? {
        return Ok(t);
    }
    let tenant = Tenant { id: Uuid::new_v4(), name: name.to_string(), created_at: Utc::now() };
    diesel::insert_into(tenants::table).values(&tenant).execute(conn)?;
    Ok(tenant)
}

pub fn find_directory(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Directory>> {
    directories::table.find(id).select(Directory::as_select()).first(conn).optional()
}

/// Find a tenant's directory by name (case-insensitive).
pub fn find_directory_by_name(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> QueryResult<Option<Directory>> {
    directories::table
        .filter(directories::tenant_id.eq(tenant_id))
        .filter(lower(directories::name).eq(lower(name)))
        .select(Directory::as_select())
        .first(conn)
        .optional()
}

/// Create a directory for a tenant, or return the one that already has this name.
pub fn ensure_directory(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> QueryResult<Directory> {
    if let Some(d) = find_directory_by_name(conn, tenant_id, name)? {
        return Ok(d);
    }
    let directory = Directory {
        id: Uuid::new_v4(),
        tenant_id,
        name: name.to_string(),
        deprovision_policy: DeprovisionPolicy::Tombstone.as_str().to_string(),
        created_at: Utc::now(),
    };
    diesel::insert_into(directories::table).values(&directory).execute(conn)?;
    Ok(directory)
}

/// Change what DELETE /Users/{id} does in a directory (`tombstone` or `erase`).
pub fn set_deprovision_policy(
    conn: &mut PgConnection,
    directory_id: Uuid,
    policy: DeprovisionPolicy,
) -> QueryResult<()> {
    diesel::update(directories::table.find(directory_id))
        .set(directories::deprovision_policy.eq(policy.as_str()))
        .execute(conn)
        .map(drop)
}

/// Delete a directory and, by cascade, its users, groups, rules and tokens; every gateway is
/// told at once that its tokens are revoked.
pub fn delete_directory(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<()> {
    let token_ids: Vec<Uuid> = scim_tokens::table
        .filter(scim_tokens::directory_id.eq(directory_id))
        .select(scim_tokens::id)
        .load(conn)?;
    diesel::delete(directories::table.find(directory_id)).execute(conn)?;
    for id in token_ids {
        diesel::sql_query(format!("NOTIFY {TOKENS_REVOKED_CHANNEL}, '{id}'")).execute(conn)?;
    }
    Ok(())
}

/// Record a newly issued token (its id and the SHA-256 of the whole token).
pub fn insert_token(conn: &mut PgConnection, token: &ScimToken) -> QueryResult<()> {
    diesel::insert_into(scim_tokens::table).values(token).execute(conn).map(drop)
}

pub fn find_token(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ScimToken>> {
    scim_tokens::table.find(id).select(ScimToken::as_select()).first(conn).optional()
}

/// Revoke a token. Returns false if no such token exists. Tells every gateway through
/// `NOTIFY` so that revocation takes effect at once rather than when a cache expires.
pub fn revoke_token(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
    let updated = diesel::update(scim_tokens::table.find(id))
        .filter(scim_tokens::revoked_at.is_null())
        .set(scim_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)?;
    let exists = updated > 0 || find_token(conn, id)?.is_some();
    if exists {
        diesel::sql_query(format!("NOTIFY {TOKENS_REVOKED_CHANNEL}, '{id}'")).execute(conn)?;
    }
    Ok(exists)
}

/// The `NOTIFY` channel that carries revoked token ids.
pub const TOKENS_REVOKED_CHANNEL: &str = "roster_tokens_revoked";

/// A token with the tenant of its directory, as the gateway's authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: Uuid,
    pub directory_id: Uuid,
    pub tenant_id: Uuid,
    pub token_sha256: Vec<u8>,
    pub revoked: bool,
}

impl TokenGrant {
    /// Whether this grant admits a token whose signature verified for `directory_id` and whose
    /// SHA-256 is `fingerprint`: not revoked, of that directory, and the very token stored. The
    /// one check the gateway and the CLI both make.
    pub fn admits(&self, directory_id: Uuid, fingerprint: &[u8]) -> bool {
        !self.revoked && self.directory_id == directory_id && self.token_sha256 == fingerprint
    }
}

pub fn find_grant(conn: &mut PgConnection, token_id: Uuid) -> QueryResult<Option<TokenGrant>> {
    scim_tokens::table
        .inner_join(directories::table)
        .filter(scim_tokens::id.eq(token_id))
        .select((
            scim_tokens::id,
            scim_tokens::directory_id,
            directories::tenant_id,
            scim_tokens::token_sha256,
            scim_tokens::revoked_at.is_not_null(),
        ))
        .first::<(Uuid, Uuid, Uuid, Vec<u8>, bool)>(conn)
        .optional()
        .map(|row| {
            row.map(|(token_id, directory_id, tenant_id, token_sha256, revoked)| TokenGrant {
                token_id,
                directory_id,
                tenant_id,
                token_sha256,
                revoked,
            })
        })
}
