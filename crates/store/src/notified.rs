//! The role-mapper's reads of the projection, and its memory of what it last notified: the
//! product view of each user and group, and the group memberships.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use roster_scim::group::MemberKind;
use uuid::Uuid;

use crate::groups::{GroupRow, StoredMemberKind};
use crate::schema::{
    group_members, groups, notified_group_members, notified_groups, notified_users, users,
};
use crate::users::UserRow;

/// Postgres takes at most 65,535 bind parameters per statement.
const CHUNK: usize = 10_000;

/// Run `query` over `ids` a chunk at a time and gather the rows.
fn chunked<T>(
    ids: &[Uuid],
    mut query: impl FnMut(&[Uuid]) -> QueryResult<Vec<T>>,
) -> QueryResult<Vec<T>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        out.extend(query(chunk)?);
    }
    Ok(out)
}

/// Users with these ids, tombstones included.
pub fn users_by_ids(
    conn: &mut PgConnection,
    directory_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<UserRow>> {
    chunked(ids, |chunk| {
        users::table
            .filter(users::directory_id.eq(directory_id))
            .filter(users::id.eq_any(chunk))
            .select(UserRow::as_select())
            .load(conn)
    })
}

/// Groups with these ids, tombstones included.
pub fn groups_by_ids(
    conn: &mut PgConnection,
    directory_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<GroupRow>> {
    chunked(ids, |chunk| {
        groups::table
            .filter(groups::directory_id.eq(directory_id))
            .filter(groups::id.eq_any(chunk))
            .select(GroupRow::as_select())
            .load(conn)
    })
}

/// A user's membership of a live group, with what the product view needs of the group.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Membership {
    pub member_id: Uuid,
    pub group_id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub added_at: DateTime<Utc>,
}

/// The live groups the given members belong to directly.
pub fn memberships_of(
    conn: &mut PgConnection,
    directory_id: Uuid,
    member_ids: &[Uuid],
) -> QueryResult<Vec<Membership>> {
    chunked(member_ids, |chunk| {
        group_members::table
            .inner_join(
                groups::table.on(groups::directory_id
                    .eq(group_members::directory_id)
                    .and(groups::id.eq(group_members::group_id))),
            )
            .filter(group_members::directory_id.eq(directory_id))
            .filter(group_members::member_id.eq_any(chunk))
            .filter(groups::deleted_at.is_null())
            .select((
                group_members::member_id,
                group_members::group_id,
                groups::display_name,
                groups::external_id,
                group_members::added_at,
            ))
            .load::<Membership>(conn)
    })
}

/// A membership, current or notified: the group, the member, and what the member is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable)]
pub struct MemberPair {
    pub group_id: Uuid,
    pub member_id: Uuid,
    #[diesel(deserialize_as = StoredMemberKind)]
    pub kind: MemberKind,
}

/// The current members of the given groups.
pub fn members_of_groups(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_ids: &[Uuid],
) -> QueryResult<Vec<MemberPair>> {
    chunked(group_ids, |chunk| {
        group_members::table
            .filter(group_members::directory_id.eq(directory_id))
            .filter(group_members::group_id.eq_any(chunk))
            .select((group_members::group_id, group_members::member_id, group_members::member_kind))
            .load::<MemberPair>(conn)
    })
}

/// The current memberships of the given members.
pub fn groups_of_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    member_ids: &[Uuid],
) -> QueryResult<Vec<MemberPair>> {
    chunked(member_ids, |chunk| {
        group_members::table
            .filter(group_members::directory_id.eq(directory_id))
            .filter(group_members::member_id.eq_any(chunk))
            .select((group_members::group_id, group_members::member_id, group_members::member_kind))
            .load::<MemberPair>(conn)
    })
}

/// Every live user and group id of a directory (a rules change reconciles them all).
pub fn all_ids(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<(Vec<Uuid>, Vec<Uuid>)> {
    let user_ids = users::table
        .filter(users::directory_id.eq(directory_id))
        .filter(users::deleted_at.is_null())
        .select(users::id)
        .load(conn)?;
    let group_ids = groups::table
        .filter(groups::directory_id.eq(directory_id))
        .filter(groups::deleted_at.is_null())
        .select(groups::id)
        .load(conn)?;
    Ok((user_ids, group_ids))
}

/// Every user and group id the role-mapper has notified and not yet seen deleted.
pub fn all_notified_ids(
    conn: &mut PgConnection,
    directory_id: Uuid,
) -> QueryResult<(Vec<Uuid>, Vec<Uuid>)> {
    let user_ids = notified_users::table
        .filter(notified_users::directory_id.eq(directory_id))
        .select(notified_users::user_id)
        .load(conn)?;
    let group_ids = notified_groups::table
        .filter(notified_groups::directory_id.eq(directory_id))
        .select(notified_groups::group_id)
        .load(conn)?;
    Ok((user_ids, group_ids))
}

/// The last notified views of these users.
pub fn user_views(
    conn: &mut PgConnection,
    directory_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, serde_json::Value>> {
    chunked(ids, |chunk| {
        notified_users::table
            .filter(notified_users::directory_id.eq(directory_id))
            .filter(notified_users::user_id.eq_any(chunk))
            .select((notified_users::user_id, notified_users::view))
            .load::<(Uuid, serde_json::Value)>(conn)
    })
    .map(|rows| rows.into_iter().collect())
}

/// The last notified views of these groups.
pub fn group_views(
    conn: &mut PgConnection,
    directory_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, serde_json::Value>> {
    chunked(ids, |chunk| {
        notified_groups::table
            .filter(notified_groups::directory_id.eq(directory_id))
            .filter(notified_groups::group_id.eq_any(chunk))
            .select((notified_groups::group_id, notified_groups::view))
            .load::<(Uuid, serde_json::Value)>(conn)
    })
    .map(|rows| rows.into_iter().collect())
}

/// Remember these views as notified (`None`: the user is gone, forget it).
pub fn store_user_views(
    conn: &mut PgConnection,
    directory_id: Uuid,
    views: &[(Uuid, Option<serde_json::Value>)],
) -> QueryResult<()> {
    let (upserts, deletes): (Vec<_>, Vec<_>) = views.iter().partition(|(_, v)| v.is_some());
    let rows: Vec<_> = upserts
        .iter()
        .filter_map(|(id, view)| {
            view.as_ref().map(|view| {
                (
                    notified_users::directory_id.eq(directory_id),
                    notified_users::user_id.eq(*id),
                    notified_users::view.eq(view),
                )
            })
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(notified_users::table)
            .values(chunk)
            .on_conflict((notified_users::directory_id, notified_users::user_id))
            .do_update()
            .set(notified_users::view.eq(excluded(notified_users::view)))
            .execute(conn)?;
    }
    let gone: Vec<Uuid> = deletes.iter().map(|(id, _)| *id).collect();
    for chunk in gone.chunks(CHUNK) {
        diesel::delete(
            notified_users::table
                .filter(notified_users::directory_id.eq(directory_id))
                .filter(notified_users::user_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Remember these group views as notified (`None`: the group is gone, forget it).
pub fn store_group_views(
    conn: &mut PgConnection,
    directory_id: Uuid,
    views: &[(Uuid, Option<serde_json::Value>)],
) -> QueryResult<()> {
    let rows: Vec<_> = views
        .iter()
        .filter_map(|(id, view)| {
            view.as_ref().map(|view| {
                (
                    notified_groups::directory_id.eq(directory_id),
                    notified_groups::group_id.eq(*id),
                    notified_groups::view.eq(view),
                )
            })
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(notified_groups::table)
            .values(chunk)
            .on_conflict((notified_groups::directory_id, notified_groups::group_id))
            .do_update()
            .set(notified_groups::view.eq(excluded(notified_groups::view)))
            .execute(conn)?;
    }
    let gone: Vec<Uuid> = views.iter().filter(|(_, v)| v.is_none()).map(|(id, _)| *id).collect();
    for chunk in gone.chunks(CHUNK) {
        diesel::delete(
            notified_groups::table
                .filter(notified_groups::directory_id.eq(directory_id))
                .filter(notified_groups::group_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The notified members of these groups.
pub fn notified_members_of_groups(
    conn: &mut PgConnection,
    directory_id: Uuid,
    group_ids: &[Uuid],
) -> QueryResult<Vec<MemberPair>> {
    chunked(group_ids, |chunk| {
        notified_group_members::table
            .filter(notified_group_members::directory_id.eq(directory_id))
            .filter(notified_group_members::group_id.eq_any(chunk))
            .select((
                notified_group_members::group_id,
                notified_group_members::member_id,
                notified_group_members::member_kind,
            ))
            .load::<MemberPair>(conn)
    })
}

/// The notified memberships of these members.
pub fn notified_groups_of_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    member_ids: &[Uuid],
) -> QueryResult<Vec<MemberPair>> {
    chunked(member_ids, |chunk| {
        notified_group_members::table
            .filter(notified_group_members::directory_id.eq(directory_id))
            .filter(notified_group_members::member_id.eq_any(chunk))
            .select((
                notified_group_members::group_id,
                notified_group_members::member_id,
                notified_group_members::member_kind,
            ))
            .load::<MemberPair>(conn)
    })
}

/// Record memberships as notified: `added` remembered, `removed` forgotten.
pub fn store_members(
    conn: &mut PgConnection,
    directory_id: Uuid,
    added: &[MemberPair],
    removed: &[MemberPair],
) -> QueryResult<()> {
    let rows: Vec<_> = added
        .iter()
        .map(|pair| {
            (
                notified_group_members::directory_id.eq(directory_id),
                notified_group_members::group_id.eq(pair.group_id),
                notified_group_members::member_id.eq(pair.member_id),
                notified_group_members::member_kind.eq(pair.kind.as_str()),
            )
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        diesel::insert_into(notified_group_members::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    let mut by_group: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for pair in removed {
        by_group.entry(pair.group_id).or_default().push(pair.member_id);
    }
    for (group_id, member_ids) in by_group {
        for chunk in member_ids.chunks(CHUNK) {
            diesel::delete(
                notified_group_members::table
                    .filter(notified_group_members::directory_id.eq(directory_id))
                    .filter(notified_group_members::group_id.eq(group_id))
                    .filter(notified_group_members::member_id.eq_any(chunk)),
            )
            .execute(conn)?;
        }
    }
    Ok(())
}

/// Forget everything notified of a directory (it was deleted).
pub fn forget_directory(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<()> {
    diesel::delete(
        notified_group_members::table.filter(notified_group_members::directory_id.eq(directory_id)),
    )
    .execute(conn)?;
    diesel::delete(notified_groups::table.filter(notified_groups::directory_id.eq(directory_id)))
        .execute(conn)?;
    diesel::delete(notified_users::table.filter(notified_users::directory_id.eq(directory_id)))
        .execute(conn)?;
    Ok(())
}
