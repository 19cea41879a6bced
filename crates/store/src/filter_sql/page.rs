//! One page of a filter's matches, sorted: the queries the gateway's list endpoints run.

use diesel::prelude::*;
use diesel::sql_types::Text;
use roster_scim::filter::{AttrPath, Filter};
use uuid::Uuid;

use super::columns::is;
use super::condition::Condition;
use super::{FilterSqlError, ResourceKind, translate, translate_group};
use crate::groups::GroupRow;
use crate::schema::{groups, users};
use crate::users::UserRow;

/// One page of a table's live rows in a directory matching a condition, and how many match in
/// all: the body of [`find_users`] and [`find_groups`] (diesel's tables are distinct types), and
/// of their async forms in [`lookups`]. The tokens after `;` follow each statement: nothing for a
/// blocking connection, `.await` for an async one (whose `RunQueryDsl` is then in scope).
macro_rules! find_page {
    ($conn:expr, $table:ident, $row:ty, $directory_id:expr, $condition:expr, $order:expr,
     $start_index:expr, $count:expr; $($run:tt)*) => {{
        let conn = $conn;
        let (directory_id, condition, order, start_index, count): (
            Uuid,
            Option<Condition>,
            Option<String>,
            i64,
            i64,
        ) = ($directory_id, $condition, $order, $start_index, $count);
        let live = || {
            $table::table
                .filter($table::directory_id.eq(directory_id))
                .filter($table::deleted_at.is_null())
                .into_boxed()
        };
        let count_all = || {
            let mut total = live();
            if let Some(condition) = &condition {
                total = total.filter(condition.clone());
            }
            total.count()
        };
        if count <= 0 {
            let total: i64 = count_all().get_result(&mut *conn) $($run)* ?;
            return Ok((total, Vec::new()));
        }
        let mut page = live();
        if let Some(condition) = condition.clone() {
            page = page.filter(condition);
        }
        if let Some(order) = &order {
            page = page.order(diesel::dsl::sql::<Text>(order));
        }
        let start_index = start_index.max(1);
        let rows: Vec<$row> = page
            .then_order_by(($table::created_at, $table::id))
            .offset(start_index - 1)
            .limit(count)
            .select(<$row>::as_select())
            .load(&mut *conn) $($run)* ?;
        // A first page that is not full holds every match: no second statement to count them
        // (Entra's matching queries, which find 0 or 1 resource, take one statement).
        let total = if start_index == 1 && (rows.len() as i64) < count {
            rows.len() as i64
        } else {
            count_all().get_result(&mut *conn) $($run)* ?
        };
        Ok((total, rows))
    }};
}

/// One page of a directory's users matching `filter`, and how many match in all. Tombstones
/// (`deleted_at` set) are never found.
///
/// `start_index` is SCIM's 1-based `startIndex` (values below 1 count as 1); `count` is the
/// page size (0 returns no rows, only the total). Without `sort` the order is creation order.
pub fn find_users(
    conn: &mut PgConnection,
    directory_id: Uuid,
    filter: Option<&Filter>,
    start_index: i64,
    count: i64,
    sort: Option<(&AttrPath, bool)>,
) -> Result<(i64, Vec<UserRow>), FilterSqlError> {
    let condition = filter.map(translate).transpose()?;
    let order = sort.map(|(path, desc)| sort_order(ResourceKind::User, path, desc)).transpose()?;
    find_page!(conn, users, UserRow, directory_id, condition, order, start_index, count;)
}

/// [`find_users`] for groups: one page of a directory's live groups matching `filter`, and how
/// many match in all. Members are not loaded ([`crate::groups::members_of`] loads a page's).
pub fn find_groups(
    conn: &mut PgConnection,
    directory_id: Uuid,
    filter: Option<&Filter>,
    start_index: i64,
    count: i64,
    sort: Option<(&AttrPath, bool)>,
) -> Result<(i64, Vec<GroupRow>), FilterSqlError> {
    let condition = filter.map(translate_group).transpose()?;
    let order = sort.map(|(path, desc)| sort_order(ResourceKind::Group, path, desc)).transpose()?;
    find_page!(conn, groups, GroupRow, directory_id, condition, order, start_index, count;)
}

/// [`find_users`] and [`find_groups`] on an async connection: the gateway's point lookups
/// (`crate::lookup`), which run on the actix worker that took the request.
pub mod lookups {
    use diesel::sql_types::Text;
    use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    use roster_scim::filter::{AttrPath, Filter};
    use uuid::Uuid;

    use super::super::condition::Condition;
    use super::super::{FilterSqlError, ResourceKind, translate, translate_group};
    use super::sort_order;
    use crate::groups::GroupRow;
    use crate::schema::{groups, users};
    use crate::users::UserRow;

    /// [`super::find_users`], awaited.
    pub async fn find_users(
        conn: &mut AsyncPgConnection,
        directory_id: Uuid,
        filter: Option<&Filter>,
        start_index: i64,
        count: i64,
        sort: Option<(&AttrPath, bool)>,
    ) -> Result<(i64, Vec<UserRow>), FilterSqlError> {
        let condition = filter.map(translate).transpose()?;
        let order =
            sort.map(|(path, desc)| sort_order(ResourceKind::User, path, desc)).transpose()?;
        find_page!(conn, users, UserRow, directory_id, condition, order, start_index, count; .await)
    }

    /// [`super::find_groups`], awaited.
    pub async fn find_groups(
        conn: &mut AsyncPgConnection,
        directory_id: Uuid,
        filter: Option<&Filter>,
        start_index: i64,
        count: i64,
        sort: Option<(&AttrPath, bool)>,
    ) -> Result<(i64, Vec<GroupRow>), FilterSqlError> {
        let condition = filter.map(translate_group).transpose()?;
        let order =
            sort.map(|(path, desc)| sort_order(ResourceKind::Group, path, desc)).transpose()?;
        find_page!(conn, groups, GroupRow, directory_id, condition, order, start_index, count; .await)
    }
}

/// `ORDER BY` text for `sortBy` (fixed SQL, no values). Unassigned values sort last ascending
/// and first descending (RFC 7644 §3.4.2.3).
fn sort_order(
    kind: ResourceKind,
    path: &AttrPath,
    descending: bool,
) -> Result<String, FilterSqlError> {
    let unsupported = || Err(FilterSqlError::Unsupported(format!("cannot sort by {path}")));
    if !path.is_core() {
        return unsupported();
    }
    let t = kind.table();
    let fold = |column: &str| format!("lower({t}.{column} COLLATE \"und-x-icu\") COLLATE \"C\"");
    let sub = path.sub_attr.as_deref();
    let (expr, nullable) = match (path.attr.as_str(), sub) {
        (a, None) if is(a, "userName") && kind == ResourceKind::User => (fold("user_name"), false),
        // A group's displayName is required.
        (a, None) if is(a, "displayName") => (fold("display_name"), kind == ResourceKind::User),
        (a, None) if is(a, "externalId") => (format!("{t}.external_id COLLATE \"C\""), true),
        (a, None) if is(a, "id") => (format!("{t}.id::text COLLATE \"C\""), false),
        (a, Some(s)) if is(a, "meta") && is(s, "created") => (format!("{t}.created_at"), false),
        (a, Some(s)) if is(a, "meta") && is(s, "lastModified") => {
            (format!("{t}.last_modified"), false)
        }
        _ => return unsupported(),
    };
    Ok(match (descending, nullable) {
        (false, false) => format!("{expr} ASC"),
        (true, false) => format!("{expr} DESC"),
        (false, true) => format!("{expr} ASC NULLS LAST"),
        (true, true) => format!("{expr} DESC NULLS FIRST"),
    })
}
