//! The users projection: written by the projector, read by the gateway. Deprovisioned users
//! kept as tombstones (`deleted_at` set) are invisible to every read here.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roster_scim::user::User;
use uuid::Uuid;

use crate::schema::users;
use crate::sql::user_name_is;

/// One row of `users`: indexed columns for what filters and uniqueness need, and the canonical
/// SCIM resource (without `id` and `meta`) as jsonb.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserRow {
    pub directory_id: Uuid,
    pub id: Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub resource: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// Set when the user was deprovisioned under the `tombstone` policy.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl UserRow {
    /// The first version of `user`'s row, created at `time` (the event's time, never the clock).
    pub fn new(directory_id: Uuid, id: Uuid, user: &User, time: DateTime<Utc>) -> UserRow {
        UserRow {
            directory_id,
            id,
            user_name: user.user_name().to_string(),
            external_id: user.external_id().map(str::to_string),
            display_name: user.display_name().map(str::to_string),
            active: user.active(),
            resource: user.as_json(),
            version: 1,
            created_at: time,
            last_modified: time,
            deleted_at: None,
        }
    }
}

/// The live (not deprovisioned) user with this id.
pub fn find(conn: &mut PgConnection, directory_id: Uuid, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .find((id, directory_id))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Whether another live user than `except` holds `user_name` (case-insensitive) in the directory.
pub fn user_name_taken(
    conn: &mut PgConnection,
    directory_id: Uuid,
    user_name: &str,
    except: Option<Uuid>,
) -> QueryResult<bool> {
    let mut query = users::table
        .filter(users::directory_id.eq(directory_id))
        .filter(user_name_is(user_name))
        .filter(users::deleted_at.is_null())
        .select(users::id)
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(users::id.ne(id));
    }
    diesel::select(diesel::dsl::exists(query)).get_result(conn)
}

pub fn insert(conn: &mut PgConnection, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table).values(row).execute(conn).map(drop)
}

/// Insert unless the id or the userName (case-insensitive, among live users) is taken in the
/// directory; returns whether the row was inserted. One statement on the happy path, and no
/// aborted transaction on a conflict.
pub fn insert_if_absent(conn: &mut PgConnection, row: &UserRow) -> QueryResult<bool> {
    diesel::insert_into(users::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|inserted| inserted == 1)
}

/// Insert many rows in one statement per chunk, each unless its id or userName is taken, in
/// order (a row whose userName an earlier row of the same call took is not inserted, as if they
/// had been inserted one by one); returns the `(id, directory_id)` of the rows inserted.
pub fn insert_many_if_absent(
    conn: &mut PgConnection,
    rows: &[UserRow],
) -> QueryResult<HashSet<(Uuid, Uuid)>> {
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_CHUNK) {
        let ids: Vec<(Uuid, Uuid)> = diesel::insert_into(users::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .returning((users::id, users::directory_id))
            .get_results(conn)?;
        inserted.extend(ids);
    }
    Ok(inserted)
}

/// Rows per multi-row insert: 11 bind parameters each, under Postgres' limit of 65535.
const INSERT_CHUNK: usize = 5000;

/// Overwrite a user's row (PUT, PATCH, tombstoning).
pub fn update(conn: &mut PgConnection, row: &UserRow) -> QueryResult<()> {
    diesel::update(users::table.find((row.id, row.directory_id))).set(row).execute(conn).map(drop)
}

/// Erase a user's row (the `erase` deprovisioning policy).
pub fn erase(conn: &mut PgConnection, directory_id: Uuid, id: Uuid) -> QueryResult<()> {
    diesel::delete(users::table.find((id, directory_id))).execute(conn).map(drop)
}

/// Number of live users in a directory.
pub fn count(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<i64> {
    users::table
        .filter(users::directory_id.eq(directory_id))
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// One page of a directory's live users in creation order (`offset` is 0-based).
pub fn page(
    conn: &mut PgConnection,
    directory_id: Uuid,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::directory_id.eq(directory_id))
        .filter(users::deleted_at.is_null())
        .order((users::created_at, users::id))
        .offset(offset)
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

/// The custom extensions of the User resource that the directory's live users hold, for
/// `/Schemas` and `/ResourceTypes`: every object-valued attribute whose name is a URN other than
/// the enterprise extension's, with each of its attribute names and one stored value (a non-null
/// one where there is one). At most 1,000 attribute names in all. One scan of the directory's
/// users; bounded like every gateway statement by `gateway.statement_timeout_ms`.
pub fn extensions(
    conn: &mut PgConnection,
    directory_id: Uuid,
) -> QueryResult<Vec<roster_scim::discovery::Extension>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        urn: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        attribute: String,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        sample: serde_json::Value,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT DISTINCT ON (e.key, a.key) e.key AS urn, a.key AS attribute, a.value AS sample \
         FROM users u \
         CROSS JOIN LATERAL jsonb_each(u.resource) e \
         CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(e.value) = 'object' \
                                            THEN e.value ELSE '{}'::jsonb END) a \
         WHERE u.directory_id = $1 AND u.deleted_at IS NULL \
           AND e.key LIKE 'urn:%' AND lower(e.key) <> lower($2) \
         ORDER BY e.key, a.key, a.value = 'null'::jsonb \
         LIMIT 1000",
    )
    .bind::<diesel::sql_types::Uuid, _>(directory_id)
    .bind::<diesel::sql_types::Text, _>(roster_scim::user::ENTERPRISE_USER_SCHEMA)
    .load(conn)?;
    let mut extensions: Vec<roster_scim::discovery::Extension> = Vec::new();
    for row in rows {
        match extensions.last_mut() {
            Some(last) if last.urn == row.urn => last.attributes.push((row.attribute, row.sample)),
            _ => extensions.push(roster_scim::discovery::Extension {
                urn: row.urn,
                attributes: vec![(row.attribute, row.sample)],
            }),
        }
    }
    Ok(extensions)
}
