//! The control plane: tenants, directories and SCIM secret tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::page::{Page, PageRequest};
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
    /// The policy it was created with (`roster rebuild` starts from it: later changes are in
    /// the change log).
    pub initial_deprovision_policy: String,
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
    /// When the token stops opening its directory, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a request last came with it (set by the gateway's provisioning-log writer).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ScimToken {
    /// Active, expired or revoked, at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        TokenStatus::of(self.revoked_at, self.expires_at, now)
    }
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> TokenStatus {
        match (revoked_at, expires_at) {
            (Some(_), _) => TokenStatus::Revoked,
            (None, Some(expiry)) if expiry <= now => TokenStatus::Expired,
            _ => TokenStatus::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// Find a tenant by name (case-insensitive).
pub fn find_tenant_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(lower(tenants::name).eq(lower(name)))
        .select(Tenant::as_select())
        .first(conn)
        .optional()
}

pub fn find_tenant(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Tenant>> {
    tenants::table.find(id).select(Tenant::as_select()).first(conn).optional()
}

/// Tenants in name order (case-insensitive), a page at a time; only `only` when given (a tenant
/// admin sees their own). The cursor is `[lower(name), id]`.
pub fn list_tenants(
    conn: &mut PgConnection,
    only: Option<Uuid>,
    page: &PageRequest,
) -> QueryResult<Page<Tenant>> {
    let mut query = tenants::table.select(Tenant::as_select()).into_boxed();
    if let Some(id) = only {
        query = query.filter(tenants::id.eq(id));
    }
    if let Some([name, id]) = page.after.as_deref() {
        let id = Uuid::parse_str(id).unwrap_or_default();
        query = query.filter(
            lower(tenants::name)
                .gt(name.clone())
                .or(lower(tenants::name).eq(name.clone()).and(tenants::id.gt(id))),
        );
    }
    let rows = query.order((lower(tenants::name), tenants::id)).limit(page.limit + 1).load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |t: &Tenant| {
        vec![t.name.to_lowercase(), t.id.to_string()]
    }))
}

/// Create a tenant with a new id; a unique violation if the name (case-insensitive) is taken.
pub fn create_tenant(conn: &mut PgConnection, name: &str) -> QueryResult<Tenant> {
    let tenant = Tenant { id: Uuid::new_v4(), name: name.to_string(), created_at: Utc::now() };
    diesel::insert_into(tenants::table).values(&tenant).execute(conn)?;
    Ok(tenant)
}

/// Rename a tenant; `None` if there is no such tenant, a unique violation if the name is taken.
pub fn rename_tenant(conn: &mut PgConnection, id: Uuid, name: &str) -> QueryResult<Option<Tenant>> {
    diesel::update(tenants::table.find(id))
        .set(tenants::name.eq(name))
        .returning(Tenant::as_returning())
        .get_result(conn)
        .optional()
}

/// Delete a tenant row, with its admin tokens (every gateway is told at once) and, by cascade,
/// its directories: delete those through the change log first, so the consumers forget them in
/// order. Returns false if there was none.
pub fn delete_tenant(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
    use crate::schema::admin_tokens;
    let token_ids: Vec<Uuid> = admin_tokens::table
        .filter(admin_tokens::tenant_id.eq(id))
        .select(admin_tokens::id)
        .load(conn)?;
    let deleted = diesel::delete(tenants::table.find(id)).execute(conn)? > 0;
    for token_id in token_ids {
        diesel::sql_query(format!("NOTIFY {TOKENS_REVOKED_CHANNEL}, '{token_id}'"))
            .execute(conn)?;
    }
    Ok(deleted)
}

/// How many directories a tenant has.
pub fn count_directories(conn: &mut PgConnection, tenant_id: Uuid) -> QueryResult<i64> {
    directories::table.filter(directories::tenant_id.eq(tenant_id)).count().get_result(conn)
}

/// A tenant's directories in name order (case-insensitive), a page at a time. The cursor is
/// `[lower(name), id]`.
pub fn list_directories(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    page: &PageRequest,
) -> QueryResult<Page<Directory>> {
    let mut query = directories::table
        .filter(directories::tenant_id.eq(tenant_id))
        .select(Directory::as_select())
        .into_boxed();
    if let Some([name, id]) = page.after.as_deref() {
        let id = Uuid::parse_str(id).unwrap_or_default();
        query = query.filter(
            lower(directories::name)
                .gt(name.clone())
                .or(lower(directories::name).eq(name.clone()).and(directories::id.gt(id))),
        );
    }
    let rows = query
        .order((lower(directories::name), directories::id))
        .limit(page.limit + 1)
        .load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |d: &Directory| {
        vec![d.name.to_lowercase(), d.id.to_string()]
    }))
}

/// Create a directory with a new id; a unique violation if the tenant already has one of this
/// name (case-insensitive), a foreign-key violation if the tenant is gone.
pub fn create_directory(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
    policy: DeprovisionPolicy,
) -> QueryResult<Directory> {
    let directory = Directory {
        id: Uuid::new_v4(),
        tenant_id,
        name: name.to_string(),
        deprovision_policy: policy.as_str().to_string(),
        created_at: Utc::now(),
        initial_deprovision_policy: policy.as_str().to_string(),
    };
    diesel::insert_into(directories::table).values(&directory).execute(conn)?;
    Ok(directory)
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
        initial_deprovision_policy: DeprovisionPolicy::Tombstone.as_str().to_string(),
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
    crate::provisioning_log::forget_directory(conn, directory_id)?;
    for id in token_ids {
        diesel::sql_query(format!("NOTIFY {TOKENS_REVOKED_CHANNEL}, '{id}'")).execute(conn)?;
    }
    Ok(())
}

/// Record a newly issued token (its id and the SHA-256 of the whole token).
pub fn insert_token(conn: &mut PgConnection, token: &ScimToken) -> QueryResult<()> {
    diesel::insert_into(scim_tokens::table).values(token).execute(conn).map(drop)
}

/// A directory's tokens, newest first (revoked ones too: the list is their history).
pub fn list_tokens(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<Vec<ScimToken>> {
    scim_tokens::table
        .filter(scim_tokens::directory_id.eq(directory_id))
        .order((scim_tokens::created_at.desc(), scim_tokens::id))
        .select(ScimToken::as_select())
        .load(conn)
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
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenGrant {
    /// Whether this grant admits, at `now`, a token whose signature verified for `directory_id`
    /// and whose SHA-256 is `fingerprint`: not revoked, not expired, of that directory, and the
    /// very token stored. The one check the gateway and the CLI both make.
    pub fn admits(&self, directory_id: Uuid, fingerprint: &[u8], now: DateTime<Utc>) -> bool {
        !self.revoked
            && self.expires_at.is_none_or(|expiry| now < expiry)
            && self.directory_id == directory_id
            && self.token_sha256 == fingerprint
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
            scim_tokens::expires_at,
        ))
        .first::<(Uuid, Uuid, Uuid, Vec<u8>, bool, Option<DateTime<Utc>>)>(conn)
        .optional()
        .map(|row| {
            row.map(|(token_id, directory_id, tenant_id, token_sha256, revoked, expires_at)| {
                TokenGrant { token_id, directory_id, tenant_id, token_sha256, revoked, expires_at }
            })
        })
}
