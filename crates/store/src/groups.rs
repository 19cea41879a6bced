//! The groups projection and its membership table. Tombstoned groups (`deleted_at` set) are
//! invisible to every read here.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::sql_types::Text;
use roster_scim::group::MemberKind;
use uuid::Uuid;

use crate::schema::{group_members, groups, users};
use crate::sql::group_display_name_is;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = groups, treat_none_as_null = true)]
pub struct GroupRow {
    pub directory_id: Uuid,
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    /// The canonical SCIM Group, without `id`, `meta` and `members`.
    pub resource: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One membership.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = group_members)]
pub struct MemberRow {
    pub directory_id: Uuid,
    pub group_id: Uuid,
    pub member_id: Uuid,
    #[diesel(deserialize_as = StoredMemberKind)]
    pub member_kind: MemberKind,
    pub added_at: DateTime<Utc>,
}

/// A `member_kind` column (of `group_members` and `notified_group_members`) as read: the text
/// [`MemberKind::as_str`] wrote, `'User'` or `'Group'` (the tables' CHECK constraints).
#[derive(Debug, Clone, Copy, FromSqlRow)]
pub struct StoredMemberKind(MemberKind);

impl FromSql<Text, Pg> for StoredMemberKind {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        match MemberKind::parse(&text) {
            Some(kind) => Ok(StoredMemberKind(kind)),
            None => Err(format!("member_kind {text:?} is neither User nor Group").into()),
        }
    }
}

impl From<StoredMemberKind> for MemberKind {
    fn from(stored: StoredMemberKind) -> MemberKind {
        stored.0
    }
}

pub fn find(
    conn: &mut PgConnection,
    directory_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .find((id, directory_id))
        .filter(groups::deleted_at.is_null())
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

/// Insert unless the id or the displayName (case-insensitive, among live groups) is taken.
pub fn insert_if_absent(conn: &mut PgConnection, row: &GroupRow) -> QueryResult<bool> {
    diesel::insert_into(groups::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|inserted| inserted == 1)
}

pub fn update(conn: &mut PgConnection, row: &GroupRow) -> QueryResult<()> {
    diesel::update(groups::table.find((row.id, row.directory_id))).set(row).execute(conn).map(drop)
}

pub fn erase(conn: &mut PgConnection, directory_id: Uuid, id: Uuid) -> QueryResult<()> {
    diesel::delete(groups::table.find((id, directory_id))).execute(conn).map(drop)
}

/// Whether another live group than `except` has this displayName (case-insensitive).
pub fn display_name_taken(
    conn: &mut PgConnection,
    directory_id: Uuid,
    display_name: &str,
    except: Option<Uuid>,
) -> QueryResult<bool> {
    let mut query = groups::table
        .filter(groups::directory_id.eq(directory_id))
        .filter(group_display_name_is(display_name))
        .filter(groups::deleted_at.is_null())
        .select(groups::id)
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(groups::id.ne(id));
    }
    diesel::select(diesel::dsl::exists(query)).get_result(conn)
}

/// A page of a directory's live groups in creation order (`offset` is 0-based), and how many
/// live groups it has (`POST /.search` across resource types; filtered lists go through
/// `filter_sql::find_groups`).
pub fn page(
    conn: &mut PgConnection,
    directory_id: Uuid,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<GroupRow>)> {
    let live = || {
        groups::table
            .filter(groups::directory_id.eq(directory_id))
            .filter(groups::deleted_at.is_null())
    };
    let total = live().count().get_result(conn)?;
    let rows = live()
        .order((groups::created_at, groups::id))
        .offset(offset)
        .limit(limit)
        .select(GroupRow::as_select())
        .load(conn)?;
    Ok((total, rows))
}

/// The members of the given groups, in the order they joined.
pub fn members_of(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_ids: &[Uuid],
) -> QueryResult<Vec<MemberRow>> {
    group_members::table
        .filter(group_members::directory_id.eq(directory_id))
        .filter(group_members::group_id.eq_any(group_ids))
        .order((group_members::added_at, group_members::member_id))
        .select(MemberRow::as_select())
        .load(conn)
}

/// One membership as a response shows it: the member and its display name (a user's
/// `displayName`, else its `userName`; a group's `displayName`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ShownMember {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub group_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text, deserialize_as = StoredMemberKind)]
    pub member_kind: MemberKind,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub display: Option<String>,
}

/// The members of the given groups in the order they joined, one statement (no query per
/// member), each with its display name when `with_display` (the response shows it only when
/// asked: `returned: "request"`). Each name is a primary-key probe of `users` or `groups` (a
/// scalar subquery per row), so the cost follows the number of members shown, not the size of
/// the directory: a join let the planner hash every user of the directory for a page of small
/// groups.
pub fn members_shown(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_ids: &[Uuid],
    with_display: bool,
) -> QueryResult<Vec<ShownMember>> {
    const DISPLAY: &str = "CASE gm.member_kind \
         WHEN 'User' THEN (SELECT coalesce(nullif(u.display_name, ''), u.user_name) FROM users u \
                           WHERE u.id = gm.member_id AND u.directory_id = gm.directory_id) \
         WHEN 'Group' THEN (SELECT g.display_name FROM groups g \
                            WHERE g.id = gm.member_id AND g.directory_id = gm.directory_id) \
       END";
    let display = if with_display { DISPLAY } else { "NULL::text" };
    diesel::sql_query(format!(
        "SELECT gm.group_id, gm.member_id, gm.member_kind, {display} AS display \
         FROM group_members gm \
         WHERE gm.directory_id = $1 AND gm.group_id = ANY($2) \
         ORDER BY gm.added_at, gm.member_id"
    ))
    .bind::<diesel::sql_types::Uuid, _>(directory_id)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(group_ids)
    .load(conn)
}

/// Add memberships; one already there keeps its original join time.
pub fn add_members(conn: &mut PgConnection, rows: &[MemberRow]) -> QueryResult<()> {
    // 5 bind parameters a row; Postgres allows 65535.
    for chunk in rows.chunks(10_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|row| {
                (
                    group_members::directory_id.eq(row.directory_id),
                    group_members::group_id.eq(row.group_id),
                    group_members::member_id.eq(row.member_id),
                    group_members::member_kind.eq(row.member_kind.as_str()),
                    group_members::added_at.eq(row.added_at),
                )
            })
            .collect();
        diesel::insert_into(group_members::table)
            .values(&values)
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

pub fn remove_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_id: Uuid,
    member_ids: &[Uuid],
) -> QueryResult<()> {
    for chunk in member_ids.chunks(10_000) {
        diesel::delete(
            group_members::table
                .filter(group_members::directory_id.eq(directory_id))
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::member_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

pub fn remove_all_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_id: Uuid,
) -> QueryResult<()> {
    diesel::delete(
        group_members::table
            .filter(group_members::directory_id.eq(directory_id))
            .filter(group_members::group_id.eq(group_id)),
    )
    .execute(conn)
    .map(drop)
}

/// Remove a user or group from every group of the directory (it was deprovisioned).
pub fn remove_from_all_groups(
    conn: &mut PgConnection,
    directory_id: Uuid,
    member_id: Uuid,
) -> QueryResult<()> {
    diesel::delete(
        group_members::table
            .filter(group_members::directory_id.eq(directory_id))
            .filter(group_members::member_id.eq(member_id)),
    )
    .execute(conn)
    .map(drop)
}

/// Which of `ids` are live users and which live groups of the directory: `(users, groups)`.
pub fn resolve_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<(Vec<Uuid>, Vec<Uuid>)> {
    let mut found_users = Vec::new();
    let mut found_groups = Vec::new();
    for chunk in ids.chunks(10_000) {
        found_users.extend(
            users::table
                .filter(users::directory_id.eq(directory_id))
                .filter(users::id.eq_any(chunk))
                .filter(users::deleted_at.is_null())
                .select(users::id)
                .load::<Uuid>(conn)?,
        );
        found_groups.extend(
            groups::table
                .filter(groups::directory_id.eq(directory_id))
                .filter(groups::id.eq_any(chunk))
                .filter(groups::deleted_at.is_null())
                .select(groups::id)
                .load::<Uuid>(conn)?,
        );
    }
    Ok((found_users, found_groups))
}
