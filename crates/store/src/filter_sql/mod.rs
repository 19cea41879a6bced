//! SCIM filters (RFC 7644 §3.4.2.2) translated to parameterised SQL over `users` and `groups`,
//! with the semantics of the in-memory evaluator [`Filter::matches`] with
//! [`DefaultAttributeInfo`](roster_scim::filter::DefaultAttributeInfo) (on the resource as the
//! gateway serves it), so that `GET /Users?filter=…` and `GET /Groups?filter=…` are answered by
//! Postgres, with indexes where Entra needs them. What follows is said of users; groups are read
//! the same way from their own columns (below).
//!
//! Every value taken from the filter (and every attribute name) is a bind parameter; the SQL text
//! is assembled from fixed pieces only.
//!
//! - `id`, `userName`, `externalId`, `displayName` and `meta.created`/`lastModified`/`version`/
//!   `resourceType` are read from columns. `userName eq "x"` is
//!   `lower(user_name COLLATE "und-x-icu") = $1` (unique index `users_user_name_key`), `externalId eq`
//!   is `external_id = $1` (index `users_external_id`), `displayName eq` uses
//!   `users_display_name_fold`, and `id eq "<uuid>"` the primary key. Each of these indexes leads
//!   with the looked-up value, not the directory, so the plan does not depend on statistics
//!   (migrations 000014 for users, 000015 for groups, whose indexes are the same).
//! - Everything else is read from the `resource` jsonb with inline SQL mirroring the evaluator's
//!   lookup (exact key first, else ignoring ASCII case; extension fallback for paths without
//!   URN; flattening of multi-valued attributes; `EXISTS` over the values, so "any element").
//!   The helper functions of migration `2026-11-25-000010_user_filter_indexes` cover the rare
//!   parts: the case-insensitive key search (`roster_scim_get`, reached only when a jsonpath
//!   prefilter says such a key exists), `pr` (`roster_scim_present`) and RFC 3339 parsing as
//!   chrono does it (`roster_scim_instant`).
//! - `emails[… value eq "x" …]` (Entra's form) is first narrowed through the GIN index
//!   `users_email_keys` on the folded email values (`roster_scim_email_keys`).
//! - Case-insensitive comparisons fold with ICU (`lower(x COLLATE "und-x-icu")`), which agrees
//!   with Rust's `str::to_lowercase` (full mappings, final sigma) where libc's `lower` does not;
//!   the filter's value is folded by Rust. Ordering compares bytes (`COLLATE "C"`), as Rust's
//!   `str` ordering does.
//! - Groups ([`translate_group`], [`find_groups`]): `id`, `displayName` (folded, unique index
//!   `groups_display_name_key`), `externalId` (index `groups_external_id`) and `meta.*` from
//!   columns as for users; `members`, `members.value` and `members.type` are an `EXISTS` over
//!   the group's rows of `group_members` comparing `member_id::text` (`member_id = $1::uuid`
//!   for `eq "<uuid>"`) or `member_kind`, and `members[…]` filters each membership as the jsonb
//!   object `{"value", "type"}`. `members.$ref`, like `meta.location`, depends on the request's
//!   base URL and is [`FilterSqlError::Unsupported`]. Everything else is read from `resource`.
//!   Entra's reference check `id eq "<gid>" and members eq "<uid>"` is the primary key and one
//!   primary-key probe of `group_members`.
//!
//! Known differences from the evaluator, by design: a path without URN naming `externalId` or
//! `displayName` is answered from the column only, so a user without a top-level value is not
//! looked up in extension objects (the evaluator would find an extension attribute of that name).
//! `meta.location` depends on the request's base URL and is [`FilterSqlError::Unsupported`].
//!
//! The module is split along those lines: `condition.rs` (the SQL builder and the diesel
//! expression it is), `columns.rs` (where each attribute is read: a column, or the `resource`
//! jsonb), `jsonb.rs` (the evaluator's lookups written in SQL), `compare.rs` (the comparisons),
//! `translator.rs` (the filter's tree, walked) and `page.rs` (sorting and paging). The error and
//! the resource kinds live here.

mod columns;
mod compare;
mod condition;
mod jsonb;
mod page;
mod translator;

#[cfg(test)]
mod tests;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use thiserror::Error;

use crate::schema::users;

pub use condition::Condition;
pub use page::{find_groups, find_users, lookups};
use translator::translate_for;

/// Why a filter could not be answered from Postgres.
#[derive(Debug, Error)]
pub enum FilterSqlError {
    /// The filter (or sort) uses something the translation cannot express; answer
    /// `400 invalidFilter`.
    #[error("unsupported filter: {0}")]
    Unsupported(String),
    /// The query failed.
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
}

/// The condition `filter` puts on a `users` row, boxed for diesel's `.filter(…)`.
pub fn user_condition(
    filter: &Filter,
) -> Result<Box<dyn BoxableExpression<users::table, Pg, SqlType = Bool>>, FilterSqlError> {
    Ok(Box::new(translate(filter)?))
}

/// The condition `filter` puts on a `users` row.
pub fn translate(filter: &Filter) -> Result<Condition, FilterSqlError> {
    translate_for(ResourceKind::User, filter)
}

/// The condition `filter` puts on a `groups` row (`members` read from `group_members`).
pub fn translate_group(filter: &Filter) -> Result<Condition, FilterSqlError> {
    translate_for(ResourceKind::Group, filter)
}

/// Whether `filter` is a point lookup of users ([`is_point_lookup`]).
pub fn is_user_lookup(filter: &Filter) -> bool {
    is_point_lookup(ResourceKind::User, filter)
}

/// Whether `filter` is a point lookup of groups ([`is_point_lookup`]).
pub fn is_group_lookup(filter: &Filter) -> bool {
    is_point_lookup(ResourceKind::Group, filter)
}

/// A point lookup: one `eq` of a string with an attribute whose index leads with the value
/// (`userName` or a group's `displayName`, `externalId`, and `id` when the value is a UUID as
/// we write them; any other `id` is compared as text, a scan): an index probe however large the
/// directory. Entra matches every resource this way before it writes.
fn is_point_lookup(kind: ResourceKind, filter: &Filter) -> bool {
    let Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(value) } = filter
    else {
        return false;
    };
    if !path.is_core() || path.sub_attr.is_some() {
        return false;
    }
    if path.attr.eq_ignore_ascii_case("id") {
        return uuid::Uuid::parse_str(value).is_ok_and(|id| id.to_string() == *value);
    }
    let named = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    ["externalId", named].iter().any(|attr| attr.eq_ignore_ascii_case(&path.attr))
}

/// Which resources a filter selects: the table, and how its attributes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    fn table(self) -> &'static str {
        match self {
            ResourceKind::User => "users",
            ResourceKind::Group => "groups",
        }
    }

    /// `meta.resourceType`.
    fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The `resource` jsonb column.
    fn resource(self) -> String {
        format!("{}.resource", self.table())
    }
}
