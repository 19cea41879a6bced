//! A directory's users and groups as the admin API and the console list them: in name order, by
//! a case-insensitive prefix, with the product view the role-mapper last notified (product
//! roles and teams), a page at a time. Served by the `*_directory_name_order` indexes, which
//! only queries stating `user_name <> ''` (`display_name <> ''`) can use: see migration 000017.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::page::{Page, PageRequest};

/// One user of a directory, with its last notified product view.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct UserSummary {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_modified: DateTime<Utc>,
    /// The serde form of `roster.notifications.v1.ProductUser`, once the role-mapper has seen
    /// the user.
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub view: Option<serde_json::Value>,
    /// The name as the list sorts it (`lower(user_name)`), for the cursor.
    #[diesel(sql_type = Text)]
    pub sort_key: String,
}

/// One user with its stored SCIM resource.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct UserDetail {
    #[diesel(embed)]
    pub summary: UserSummary,
    #[diesel(sql_type = Jsonb)]
    pub resource: serde_json::Value,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
}

/// One group of a directory, with its member count and last notified product view.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct GroupSummary {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub member_count: i64,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_modified: DateTime<Utc>,
    /// The serde form of `roster.notifications.v1.ProductGroup`.
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub view: Option<serde_json::Value>,
    #[diesel(sql_type = Text)]
    pub sort_key: String,
}

/// `prefix` as a `LIKE` pattern that matches it literally, lower-cased, then anything.
fn prefix_pattern(prefix: Option<&str>) -> String {
    let mut pattern = String::new();
    for c in prefix.unwrap_or_default().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The cursor's `[sort key, id]`, or the start.
fn after(page: &PageRequest) -> (String, Uuid, bool) {
    match page.after.as_deref() {
        Some([key, id]) => (key.clone(), Uuid::parse_str(id).unwrap_or_default(), true),
        _ => (String::new(), Uuid::nil(), false),
    }
}

const USER_COLUMNS: &str = "u.id, u.user_name, u.display_name, u.external_id, u.active, \
    u.created_at, u.last_modified, n.view, lower(u.user_name) COLLATE \"C\" AS sort_key";

/// Users whose userName starts with `prefix` (case-insensitive), in that order.
pub fn list_users(
    conn: &mut PgConnection,
    directory_id: Uuid,
    prefix: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Page<UserSummary>> {
    let (key, id, paged) = after(page);
    let rows: Vec<UserSummary> = diesel::sql_query(format!(
        "SELECT {USER_COLUMNS} FROM users u \
         LEFT JOIN notified_users n ON n.directory_id = u.directory_id AND n.user_id = u.id \
         WHERE u.directory_id = $1 AND u.deleted_at IS NULL AND u.user_name <> '' \
           AND lower(u.user_name) COLLATE \"C\" LIKE $2 \
           AND (NOT $3 OR (lower(u.user_name) COLLATE \"C\", u.id) > ($4 COLLATE \"C\", $5)) \
         ORDER BY lower(u.user_name) COLLATE \"C\", u.id LIMIT $6"
    ))
    .bind::<SqlUuid, _>(directory_id)
    .bind::<Text, _>(prefix_pattern(prefix))
    .bind::<Bool, _>(paged)
    .bind::<Text, _>(key)
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(page.limit + 1)
    .load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |u: &UserSummary| {
        vec![u.sort_key.clone(), u.id.to_string()]
    }))
}

/// One user of a directory (not a deprovisioned tombstone).
pub fn find_user(
    conn: &mut PgConnection,
    directory_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<UserDetail>> {
    diesel::sql_query(format!(
        "SELECT {USER_COLUMNS}, u.resource, u.version FROM users u \
         LEFT JOIN notified_users n ON n.directory_id = u.directory_id AND n.user_id = u.id \
         WHERE u.id = $1 AND u.directory_id = $2 AND u.deleted_at IS NULL"
    ))
    .bind::<SqlUuid, _>(user_id)
    .bind::<SqlUuid, _>(directory_id)
    .get_result(conn)
    .optional()
}

/// Groups whose displayName starts with `prefix` (case-insensitive), in that order.
pub fn list_groups(
    conn: &mut PgConnection,
    directory_id: Uuid,
    prefix: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Page<GroupSummary>> {
    let (key, id, paged) = after(page);
    let rows: Vec<GroupSummary> = diesel::sql_query(
        "SELECT g.id, g.display_name, g.external_id, \
           (SELECT count(*) FROM group_members m \
             WHERE m.directory_id = g.directory_id AND m.group_id = g.id) AS member_count, \
           g.created_at, g.last_modified, n.view, \
           lower(g.display_name) COLLATE \"C\" AS sort_key \
         FROM groups g \
         LEFT JOIN notified_groups n ON n.directory_id = g.directory_id AND n.group_id = g.id \
         WHERE g.directory_id = $1 AND g.deleted_at IS NULL AND g.display_name <> '' \
           AND lower(g.display_name) COLLATE \"C\" LIKE $2 \
           AND (NOT $3 OR (lower(g.display_name) COLLATE \"C\", g.id) > ($4 COLLATE \"C\", $5)) \
         ORDER BY lower(g.display_name) COLLATE \"C\", g.id LIMIT $6",
    )
    .bind::<SqlUuid, _>(directory_id)
    .bind::<Text, _>(prefix_pattern(prefix))
    .bind::<Bool, _>(paged)
    .bind::<Text, _>(key)
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(page.limit + 1)
    .load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |g: &GroupSummary| {
        vec![g.sort_key.clone(), g.id.to_string()]
    }))
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn a_prefix_matches_itself_literally() {
        assert_eq!(prefix_pattern(Some("Ada_%\\")), "ada\\_\\%\\\\%");
        assert_eq!(prefix_pattern(None), "%");
    }
}
