//! SCIM filters (RFC 7644 §3.4.2.2) translated to parameterised SQL over `users` and `groups`,
//! with the semantics of the in-memory evaluator [`Filter::matches`] with
//! [`DefaultAttributeInfo`] (on the resource as the gateway serves it), so that
//! `GET /Users?filter=…` and `GET /Groups?filter=…` are answered by Postgres, with indexes where
//! Entra needs them. What follows is said of users; groups are read the same way from their
//! own columns (below).
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

use std::fmt;

use chrono::DateTime;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Text};
use roster_scim::filter::{
    AttrPath, AttributeInfo, CompValue, CompareOp, DefaultAttributeInfo, Filter,
};
use serde_json::Number;
use thiserror::Error;
use uuid::Uuid;

use crate::groups::GroupRow;
use crate::schema::{groups, users};
use crate::users::UserRow;

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

/// One piece of a condition: SQL text from this module, or a bound text value.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(String),
}

/// A SQL boolean condition over `users` or `groups` (as its [`ResourceKind`] was), every value
/// bound. Built by [`translate`] and [`translate_group`]; usable wherever diesel takes a filter
/// on that table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    parts: Vec<Part>,
    /// Whether statements with this condition may be kept prepared on the connection: only for
    /// filters of one comparison (Entra's lookups), whose SQL texts are few. Others vary with
    /// the filter's shape and would grow the connection's statement cache without bound.
    cacheable: bool,
}

impl Condition {
    fn sql(&mut self, text: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Sql(last)) => last.push_str(text),
            _ => self.parts.push(Part::Sql(text.to_owned())),
        }
        self
    }

    fn bind(&mut self, value: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Bind(value.into()));
        self
    }

    /// A bound value cast to `ty` (`numeric`, `uuid`, …).
    fn bind_as(&mut self, value: impl Into<String>, ty: &str) -> &mut Self {
        self.sql("CAST(").bind(value).sql(" AS ").sql(ty).sql(")")
    }

    fn constant(&mut self, value: bool) -> &mut Self {
        self.sql(if value { "TRUE" } else { "FALSE" })
    }

    /// The SQL with `$n` placeholders, and the bound values in order (for logs and tests).
    pub fn to_sql(&self) -> (String, Vec<String>) {
        let mut text = String::new();
        let mut binds = Vec::new();
        for part in &self.parts {
            match part {
                Part::Sql(s) => text.push_str(s),
                Part::Bind(v) => {
                    binds.push(v.clone());
                    text.push_str(&format!("${}", binds.len()));
                }
            }
        }
        (text, binds)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, binds) = self.to_sql();
        write!(f, "{text} -- binds: {binds:?}")
    }
}

impl Expression for Condition {
    type SqlType = Bool;
}

impl AppearsOnTable<users::table> for Condition {}

impl SelectableExpression<users::table> for Condition {}

impl AppearsOnTable<groups::table> for Condition {}

impl SelectableExpression<groups::table> for Condition {}

impl ValidGrouping<()> for Condition {
    type IsAggregate = diesel::expression::is_aggregate::No;
}

impl QueryId for Condition {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Condition {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !self.cacheable {
            out.unsafe_to_cache_prepared();
        }
        for part in &self.parts {
            match part {
                Part::Sql(s) => out.push_sql(s),
                Part::Bind(v) => out.push_bind_param::<Text, String>(v)?,
            }
        }
        Ok(())
    }
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

fn translate_for(kind: ResourceKind, filter: &Filter) -> Result<Condition, FilterSqlError> {
    let mut out = Condition {
        cacheable: matches!(filter, Filter::Compare { .. } | Filter::Present(_)),
        ..Condition::default()
    };
    Translator { kind, next_alias: 0 }.filter(filter, Scope::Resource, &mut out)?;
    Ok(out)
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

/// One page of a table's live rows in a directory matching a condition, and how many match in
/// all: the body of [`find_users`] and [`find_groups`] (diesel's tables are distinct types).
macro_rules! find_page {
    ($conn:expr, $table:ident, $row:ty, $directory_id:expr, $condition:expr, $order:expr,
     $start_index:expr, $count:expr) => {{
        let (conn, directory_id, condition, order, start_index, count): (
            &mut PgConnection,
            Uuid,
            Option<Condition>,
            Option<String>,
            i64,
            i64,
        ) = ($conn, $directory_id, $condition, $order, $start_index, $count);
        let live = || {
            $table::table
                .filter($table::directory_id.eq(directory_id))
                .filter($table::deleted_at.is_null())
                .into_boxed()
        };
        let count_all = |conn: &mut PgConnection| -> Result<i64, FilterSqlError> {
            let mut total = live();
            if let Some(condition) = &condition {
                total = total.filter(condition.clone());
            }
            Ok(total.count().get_result(conn)?)
        };
        if count <= 0 {
            return Ok((count_all(conn)?, Vec::new()));
        }
        let mut page = live();
        if let Some(condition) = condition.clone() {
            page = page.filter(condition);
        }
        if let Some(order) = &order {
            page = page.order(diesel::dsl::sql::<Text>(order));
        }
        let start_index = start_index.max(1);
        let rows = page
            .then_order_by(($table::created_at, $table::id))
            .offset(start_index - 1)
            .limit(count)
            .select(<$row>::as_select())
            .load(conn)?;
        // A first page that is not full holds every match: no second statement to count them
        // (Entra's matching queries, which find 0 or 1 resource, take one statement).
        let total = if start_index == 1 && (rows.len() as i64) < count {
            rows.len() as i64
        } else {
            count_all(conn)?
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
    find_page!(conn, users, UserRow, directory_id, condition, order, start_index, count)
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
    find_page!(conn, groups, GroupRow, directory_id, condition, order, start_index, count)
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

/// Fold like `str::to_lowercase`, for the SQL side.
const FOLD_OPEN: &str = "lower((";
const FOLD_CLOSE: &str = ") COLLATE \"und-x-icu\")";

/// What the paths of a filter are relative to (as in the evaluator).
#[derive(Clone, Copy)]
enum Scope<'p> {
    Resource,
    /// Inside `parent[…]`: `element` is the SQL expression of the element (jsonb).
    Element {
        parent: &'p AttrPath,
        element: &'p str,
    },
}

/// An attribute read from a text column.
struct Column {
    /// SQL expression of type text.
    expr: String,
    nullable: bool,
    /// SQL expression of the folded value, matching an index, for case-insensitive columns.
    folded: Option<String>,
    /// The uuid column `expr` is the text of: `eq "<uuid>"` compares it, through its index.
    uuid: Option<String>,
}

impl Column {
    fn text(expr: String, nullable: bool) -> Column {
        Column { expr, nullable, folded: None, uuid: None }
    }

    /// A case-insensitive column with an index on its ICU-folded value.
    fn folded(table: &str, name: &str, nullable: bool) -> Column {
        Column {
            folded: Some(format!("lower({table}.{name} COLLATE \"und-x-icu\")")),
            ..Column::text(format!("{table}.{name}"), nullable)
        }
    }

    /// A uuid column, compared as its text.
    fn uuid(expr: String) -> Column {
        Column { uuid: Some(expr.clone()), ..Column::text(format!("{expr}::text"), false) }
    }
}

/// A timestamp column as the gateway renders it.
fn instant(column: String) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// `meta.version` as the gateway renders it.
fn version(table: &str) -> String {
    format!("('W/\"' || {table}.version::text || '\"')")
}

/// The `meta` object as the gateway renders it, without `location`.
fn meta_json(kind: ResourceKind) -> String {
    let t = kind.table();
    format!(
        "jsonb_build_object('resourceType', '{}', 'created', {}, 'lastModified', {}, \
         'version', {})",
        kind.name(),
        instant(format!("{t}.created_at")),
        instant(format!("{t}.last_modified")),
        version(t)
    )
}

/// How a top-level (resource scope) path is read.
enum Source {
    /// From a text column.
    Column(Column),
    /// `meta.location`: present, but its value needs the request's base URL.
    Location,
    /// Never has a value (`userName.x`, `meta.unknown`).
    Absent,
    /// A jsonb base value (before the sub-attribute is applied): SQL text plus what to bind.
    Json(JsonBase),
    /// A group's `members`, from `group_members`.
    Members,
}

/// A jsonb expression for the attribute named by a path, before its sub-attribute.
enum JsonBase {
    /// A fixed expression (`to_jsonb(users.user_name)`, the meta object).
    Fixed(String),
    /// The top level, else the first extension object with the attribute: no URN.
    Lookup(String),
    /// `roster_scim_get(<table>.resource, $attr)`: a core URN.
    Core(String),
    /// `roster_scim_get(roster_scim_get(<table>.resource, $urn), $attr)`.
    Extension(String, String),
    /// Inside a value path: `roster_scim_get(element, $attr)`, or the element itself when it is
    /// not an object and `attr` is `value`.
    Element { element: String, attr: String },
}

impl JsonBase {
    /// `resource` is the table's `resource` column.
    fn write(&self, resource: &str, out: &mut Condition) {
        match self {
            JsonBase::Fixed(sql) => {
                out.sql(sql);
            }
            JsonBase::Lookup(attr) => {
                out.sql("coalesce(");
                write_get(resource, attr, out);
                out.sql(", CASE WHEN ");
                match key_path("$.* ? (@.type() == \"object\")", attr) {
                    Some(prefilter) => {
                        out.sql(resource).sql(" @? ").bind_as(prefilter, "jsonpath");
                    }
                    None => {
                        out.sql("TRUE");
                    }
                }
                // The first extension object (in jsonb order, as the evaluator sees it) with the
                // attribute.
                out.sql(" THEN (SELECT g.v FROM jsonb_each(")
                    .sql(resource)
                    .sql(") WITH ORDINALITY AS e(key, value, n), LATERAL (SELECT ");
                write_get("e.value", attr, out);
                out.sql(
                    " AS v OFFSET 0) AS g WHERE translate(left(e.key, 4), 'URN', 'urn') = 'urn:' \
                     AND g.v IS NOT NULL ORDER BY e.n LIMIT 1) END)",
                );
            }
            JsonBase::Core(attr) => write_get(resource, attr, out),
            JsonBase::Extension(urn, attr) => {
                out.sql("(SELECT ");
                write_get("u.x", attr, out);
                out.sql(" FROM (SELECT ");
                write_get(resource, urn, out);
                out.sql(" AS x) AS u)");
            }
            JsonBase::Element { element, attr } => {
                if attr.eq_ignore_ascii_case("value") {
                    out.sql("(CASE WHEN jsonb_typeof(").sql(element).sql(") = 'object' THEN ");
                    write_get(element, attr, out);
                    out.sql(" ELSE ").sql(element).sql(" END)");
                } else {
                    write_get(element, attr, out);
                }
            }
        }
    }
}

/// A jsonpath that finds a key equal to `name` ignoring case under `prefix` (a superset of
/// `eq_ignore_ascii_case`, used only to skip the exact search where it cannot succeed), when
/// `name` is plain enough to be put in one.
fn key_path(prefix: &str, name: &str) -> Option<String> {
    let mut regex = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            regex.push(c);
        } else if c.is_ascii_graphic() && c != '"' && c != '\\' {
            regex.push_str("\\\\");
            regex.push(c);
        } else {
            return None;
        }
    }
    Some(format!("{prefix}.keyvalue() ? (@.key like_regex \"^{regex}$\" flag \"i\")"))
}

/// The evaluator's `get(obj, name)`: the exact key, else the first key equal ignoring ASCII
/// case, a JSON null counting as absent. `obj` must be a cheap SQL expression (a column or an
/// alias): it is repeated.
fn write_get(obj: &str, name: &str, out: &mut Condition) {
    out.sql("(CASE WHEN jsonb_typeof(")
        .sql(obj)
        .sql(") IS DISTINCT FROM 'object' THEN NULL WHEN ")
        .sql(obj)
        .sql(" ? ")
        .bind(name)
        .sql(" THEN NULLIF(")
        .sql(obj)
        .sql(" -> ")
        .bind(name)
        .sql(", 'null'::jsonb) WHEN ");
    match key_path("$", name) {
        Some(prefilter) => {
            out.sql(obj).sql(" @? ").bind_as(prefilter, "jsonpath");
        }
        None => {
            out.sql("TRUE");
        }
    }
    out.sql(" THEN roster_scim_get(").sql(obj).sql(", ").bind(name).sql(") END)");
}

/// `FROM` items giving the evaluator's `values(base, sub)` as rows `x{k}.v` (JSON nulls among
/// them are left for the caller's `WHERE x{k}.v <> 'null'`).
fn write_values_from(
    kind: ResourceKind,
    base: &JsonBase,
    sub: Option<&str>,
    k: usize,
    out: &mut Condition,
) {
    out.sql("(SELECT ");
    base.write(&kind.resource(), out);
    // `OFFSET 0` keeps each expression computed once (the planner would otherwise inline it at
    // every use).
    out.sql(&format!(" AS b OFFSET 0) AS b{k}, LATERAL jsonb_array_elements("));
    match sub {
        None => {
            out.sql(&format!(
                "CASE WHEN jsonb_typeof(b{k}.b) = 'array' THEN b{k}.b WHEN b{k}.b IS NULL \
                 THEN '[]'::jsonb ELSE jsonb_build_array(b{k}.b) END) AS x{k}(v)"
            ));
        }
        Some(sub) => {
            out.sql(&format!(
                "CASE jsonb_typeof(b{k}.b) WHEN 'array' THEN b{k}.b WHEN 'object' \
                 THEN jsonb_build_array(b{k}.b) ELSE '[]'::jsonb END) AS o{k}(o), \
                 LATERAL (SELECT "
            ));
            write_get(&format!("o{k}.o"), sub, out);
            out.sql(&format!(
                " AS s OFFSET 0) AS s{k}, LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s{k}.s) = \
                 'array' THEN s{k}.s WHEN s{k}.s IS NULL THEN '[]'::jsonb \
                 ELSE jsonb_build_array(s{k}.s) END) AS x{k}(v)"
            ));
        }
    }
}

fn is(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

/// How a resource-scope path is read.
fn resource_source(kind: ResourceKind, path: &AttrPath) -> Source {
    let Some(urn) = path.urn.as_deref().filter(|_| !path.is_core()) else {
        let sub = path.sub_attr.as_deref();
        let attr = path.attr.as_str();
        let t = kind.table();
        let column = |column: Column| match sub {
            None => Source::Column(column),
            Some(_) => Source::Absent,
        };
        if is(attr, "id") {
            return column(Column::uuid(format!("{t}.id")));
        }
        if is(attr, "userName") && kind == ResourceKind::User {
            return column(Column::folded(t, "user_name", false));
        }
        if is(attr, "externalId") {
            return column(Column::text(format!("{t}.external_id"), true));
        }
        if is(attr, "displayName") {
            // A group's displayName is required.
            return column(Column::folded(t, "display_name", kind == ResourceKind::User));
        }
        if is(attr, "members") && kind == ResourceKind::Group {
            return Source::Members;
        }
        if is(attr, "meta") {
            let instant =
                |name: &str| Source::Column(Column::text(instant(format!("{t}.{name}")), false));
            return match sub {
                None => Source::Json(JsonBase::Fixed(meta_json(kind))),
                Some(s) if is(s, "created") => instant("created_at"),
                Some(s) if is(s, "lastModified") => instant("last_modified"),
                Some(s) if is(s, "version") => Source::Column(Column::text(version(t), false)),
                Some(s) if is(s, "resourceType") => {
                    Source::Column(Column::text(format!("'{}'::text", kind.name()), false))
                }
                Some(s) if is(s, "location") => Source::Location,
                Some(_) => Source::Absent,
            };
        }
        return Source::Json(if path.urn.is_some() {
            JsonBase::Core(path.attr.clone())
        } else {
            JsonBase::Lookup(path.attr.clone())
        });
    };
    Source::Json(JsonBase::Extension(urn.to_owned(), path.attr.clone()))
}

/// The column of membership `gm{x}` a `members` path compares: the member's id for `members`
/// and `members.value`, its kind for `members.type`; `None` for sub-attributes members never
/// have (`display`). `$ref` depends on the request's base URL.
fn member_column(sub: Option<&str>, x: usize) -> Result<Option<Column>, FilterSqlError> {
    Ok(match sub {
        None => Some(Column::uuid(format!("gm{x}.member_id"))),
        Some(s) if is(s, "value") => Some(Column::uuid(format!("gm{x}.member_id"))),
        Some(s) if is(s, "type") => Some(Column::text(format!("gm{x}.member_kind"), false)),
        Some(s) if is(s, "$ref") => {
            return Err(FilterSqlError::Unsupported(
                "members.$ref depends on the request URL and cannot be filtered on".into(),
            ));
        }
        Some(_) => None,
    })
}

/// The jsonb base of a column-backed attribute, for value paths.
fn column_json(column: &Column) -> String {
    format!("to_jsonb({})", column.expr)
}

struct Translator {
    kind: ResourceKind,
    next_alias: usize,
}

impl Translator {
    fn alias(&mut self) -> usize {
        self.next_alias += 1;
        self.next_alias
    }

    /// `EXISTS (SELECT 1 FROM group_members gm{x} … WHERE <the group's memberships>`, open for
    /// the caller's `AND …` and `)`; with `element`, each membership also as the jsonb object
    /// `e{x}.v` the gateway would show (without `$ref`). Returns `x`.
    fn members_exists(&mut self, element: bool, out: &mut Condition) -> usize {
        let x = self.alias();
        out.sql(&format!("EXISTS (SELECT 1 FROM group_members gm{x}"));
        if element {
            out.sql(&format!(
                ", LATERAL (SELECT jsonb_build_object('value', gm{x}.member_id::text, \
                 'type', gm{x}.member_kind) AS v OFFSET 0) AS e{x}"
            ));
        }
        out.sql(&format!(
            " WHERE gm{x}.directory_id = groups.directory_id AND gm{x}.group_id = groups.id"
        ));
        x
    }

    fn filter(
        &mut self,
        filter: &Filter,
        scope: Scope<'_>,
        out: &mut Condition,
    ) -> Result<(), FilterSqlError> {
        match filter {
            Filter::And(left, right) | Filter::Or(left, right) => {
                out.sql("(");
                self.filter(left, scope, out)?;
                out.sql(if matches!(filter, Filter::And(..)) { " AND " } else { " OR " });
                self.filter(right, scope, out)?;
                out.sql(")");
            }
            Filter::Not(inner) => {
                out.sql("(NOT ");
                self.filter(inner, scope, out)?;
                out.sql(")");
            }
            Filter::Present(path) => self.present(path, scope, out),
            Filter::Compare { path, op, value } => self.compare(path, *op, value, scope, out)?,
            Filter::ValuePath { path, filter } => self.value_path(path, filter, scope, out)?,
        }
        Ok(())
    }

    fn present(&mut self, path: &AttrPath, scope: Scope<'_>, out: &mut Condition) {
        let base = match scope {
            Scope::Element { element, .. } => {
                JsonBase::Element { element: element.to_owned(), attr: path.attr.clone() }
            }
            Scope::Resource => match resource_source(self.kind, path) {
                Source::Column(column) => {
                    if column.nullable {
                        out.sql("coalesce(").sql(&column.expr).sql(" <> '', FALSE)");
                    } else {
                        out.sql("(").sql(&column.expr).sql(" <> '')");
                    }
                    return;
                }
                Source::Location => {
                    out.constant(true);
                    return;
                }
                Source::Members => {
                    // Every member has a value, a type and (with the request's URL) a `$ref`.
                    match member_column(path.sub_attr.as_deref(), 0) {
                        Ok(Some(_)) | Err(_) => {
                            self.members_exists(false, out);
                            out.sql(")");
                        }
                        Ok(None) => {
                            out.constant(false);
                        }
                    }
                    return;
                }
                Source::Absent => {
                    out.constant(false);
                    return;
                }
                Source::Json(base) => base,
            },
        };
        let x = self.alias();
        out.sql("EXISTS (SELECT 1 FROM ");
        write_values_from(self.kind, &base, path.sub_attr.as_deref(), x, out);
        out.sql(&format!(" WHERE x{x}.v <> 'null'::jsonb AND roster_scim_present(x{x}.v))"));
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: Scope<'_>,
        out: &mut Condition,
    ) -> Result<(), FilterSqlError> {
        let attrs = DefaultAttributeInfo;
        let (base, case_exact, object_case_exact) = match scope {
            Scope::Element { parent, element } => {
                let full = AttrPath {
                    urn: parent.urn.clone(),
                    attr: parent.attr.clone(),
                    sub_attr: Some(path.attr.clone()),
                };
                let case_exact = attrs.case_exact(&full);
                let base =
                    JsonBase::Element { element: element.to_owned(), attr: path.attr.clone() };
                (base, case_exact, case_exact)
            }
            Scope::Resource => {
                let case_exact = attrs.case_exact(path);
                let object_case_exact = if path.sub_attr.is_none() {
                    attrs.case_exact(&path.clone().with_sub_attr("value"))
                } else {
                    case_exact
                };
                match resource_source(self.kind, path) {
                    Source::Column(column) => {
                        column_compare(&column, op, value, case_exact, out);
                        return Ok(());
                    }
                    Source::Location => {
                        return Err(FilterSqlError::Unsupported(format!(
                            "{path} depends on the request URL and cannot be filtered on"
                        )));
                    }
                    Source::Absent => {
                        out.constant(false);
                        return Ok(());
                    }
                    Source::Json(base) => (base, case_exact, object_case_exact),
                    Source::Members => {
                        // Members are objects, compared through their `value` (or `sub`).
                        let sub = path.sub_attr.as_deref();
                        if member_column(sub, 0)?.is_none() {
                            out.constant(false);
                            return Ok(());
                        }
                        let x = self.members_exists(false, out);
                        out.sql(" AND ");
                        if let Ok(Some(column)) = member_column(sub, x) {
                            column_compare(&column, op, value, object_case_exact, out);
                        }
                        out.sql(")");
                        return Ok(());
                    }
                }
            }
        };
        let x = self.alias();
        out.sql("EXISTS (SELECT 1 FROM ");
        write_values_from(self.kind, &base, path.sub_attr.as_deref(), x, out);
        let v = format!("x{x}.v");
        // A complex value is compared through its `value`.
        out.sql(&format!(", LATERAL (SELECT jsonb_typeof({v}) = 'object' AS obj, CASE WHEN jsonb_typeof({v}) = 'object' THEN "));
        write_get(&v, "value", out);
        out.sql(&format!(" ELSE {v} END AS w OFFSET 0) AS y{x} WHERE {v} <> 'null'::jsonb AND "));
        if case_exact == object_case_exact {
            json_compare(&format!("y{x}.w"), op, value, case_exact, out);
        } else {
            out.sql(&format!("CASE WHEN y{x}.obj THEN "));
            json_compare(&format!("y{x}.w"), op, value, object_case_exact, out);
            out.sql(" ELSE ");
            json_compare(&format!("y{x}.w"), op, value, case_exact, out);
            out.sql(" END");
        }
        out.sql(")");
        Ok(())
    }

    fn value_path(
        &mut self,
        path: &AttrPath,
        inner: &Filter,
        scope: Scope<'_>,
        out: &mut Condition,
    ) -> Result<(), FilterSqlError> {
        if matches!(scope, Scope::Element { .. }) {
            return Err(FilterSqlError::Unsupported(format!(
                "value path {path}[…] inside a value path"
            )));
        }
        let base = match resource_source(self.kind, path) {
            Source::Column(column) => JsonBase::Fixed(column_json(&column)),
            Source::Json(JsonBase::Fixed(ref fixed))
                if *fixed == meta_json(self.kind) && mentions(inner, "location") =>
            {
                return Err(FilterSqlError::Unsupported(
                    "meta.location depends on the request URL and cannot be filtered on".into(),
                ));
            }
            Source::Location => {
                return Err(FilterSqlError::Unsupported(
                    "meta.location depends on the request URL and cannot be filtered on".into(),
                ));
            }
            Source::Json(base) => base,
            Source::Absent => {
                out.constant(false);
                return Ok(());
            }
            Source::Members => {
                if path.sub_attr.is_some() || mentions(inner, "$ref") {
                    return Err(FilterSqlError::Unsupported(format!(
                        "{path}[{inner}] cannot be filtered on (members[…] takes value and type)"
                    )));
                }
                let x = self.members_exists(true, out);
                out.sql(" AND ");
                let element = format!("e{x}.v");
                self.filter(inner, Scope::Element { parent: path, element: &element }, out)?;
                out.sql(")");
                return Ok(());
            }
        };
        // `emails[… value eq "x" …]` (Entra): first narrow through the GIN index of folded
        // email values, which holds every string the exact test below can match.
        let email_key = (self.kind == ResourceKind::User
            && path.is_core()
            && is(&path.attr, "emails")
            && path.sub_attr.is_none())
        .then(|| email_value(inner))
        .flatten();
        if let Some(key) = &email_key {
            out.sql("(roster_scim_email_keys(users.resource) @> ARRAY[")
                .bind_as(key.as_str(), "text")
                .sql("] AND ");
        }
        let x = self.alias();
        out.sql("EXISTS (SELECT 1 FROM ");
        write_values_from(self.kind, &base, path.sub_attr.as_deref(), x, out);
        out.sql(&format!(" WHERE x{x}.v <> 'null'::jsonb AND "));
        let element = format!("x{x}.v");
        self.filter(inner, Scope::Element { parent: path, element: &element }, out)?;
        out.sql(")");
        if email_key.is_some() {
            out.sql(")");
        }
        Ok(())
    }
}

/// The folded value `x` when an element filter requires `value eq "x"` (directly or in a chain
/// of `and`) and only a string equal to `x` ignoring case can satisfy it: not a date-time (those
/// compare chronologically), a number or a boolean (those match numbers and booleans).
fn email_value(inner: &Filter) -> Option<String> {
    match inner {
        Filter::And(left, right) => email_value(left).or_else(|| email_value(right)),
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(s) }
            if is(&path.attr, "value")
                && path.sub_attr.is_none()
                && instant_key(s).is_none()
                && serde_json::from_str::<Number>(s.trim()).is_err()
                && parse_bool(s).is_none() =>
        {
            Some(s.to_lowercase())
        }
        _ => None,
    }
}

/// Whether a filter names attribute `name` anywhere (at its top level).
fn mentions(filter: &Filter, name: &str) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, name) || mentions(b, name),
        Filter::Not(a) => mentions(a, name),
        Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. } => {
            is(&path.attr, name)
        }
    }
}

/// `parse_bool`: `"true"`/`"false"` in any (ASCII) case.
fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Lt => "<",
        CompareOp::Ge => ">=",
        CompareOp::Le => "<=",
        // Not used: co/sw/ew are LIKE.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

/// `value` escaped for LIKE (escape character `\`).
fn like_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The chrono order key of an RFC 3339 date-time, as `roster_scim_instant` computes it.
fn instant_key(text: &str) -> Option<String> {
    let at = DateTime::parse_from_rfc3339(text).ok()?;
    let seconds = i128::from(at.timestamp());
    let nanos = i128::from(at.timestamp_subsec_nanos());
    Some((seconds * 2_000_000_000 + nanos).to_string())
}

/// A comparison on a text column (never null when `column.nullable` is false).
fn column_compare(
    column: &Column,
    op: CompareOp,
    value: &CompValue,
    case_exact: bool,
    out: &mut Condition,
) {
    // `id eq "<uuid>"`: the primary key (or a membership's).
    if let Some(key) = &column.uuid
        && op == CompareOp::Eq
        && let CompValue::String(s) = value
        && let Ok(id) = Uuid::parse_str(s)
        && id.to_string() == *s
    {
        out.sql(key).sql(" = ").bind_as(s.as_str(), "uuid");
        return;
    }
    if column.nullable {
        out.sql("(").sql(&column.expr).sql(" IS NOT NULL AND ");
    }
    string_compare(&column.expr, column.folded.as_deref(), op, value, case_exact, out);
    if column.nullable {
        out.sql(")");
    }
}

/// `compare_string`: `actual` is a non-null SQL text expression. `folded` is an expression of
/// its folded value matching an index, if any. The result is never NULL.
fn string_compare(
    actual: &str,
    folded: Option<&str>,
    op: CompareOp,
    value: &CompValue,
    case_exact: bool,
    out: &mut Condition,
) {
    let fold = |out: &mut Condition| {
        match folded {
            Some(folded) => out.sql(folded),
            None => out.sql(FOLD_OPEN).sql(actual).sql(FOLD_CLOSE),
        };
    };
    let text = match value {
        CompValue::String(s) => s.clone(),
        CompValue::Number(n) => n.to_string(),
        CompValue::Bool(b) => {
            match op {
                // Equal when it reads as the same boolean; `ne` also when it is not a boolean.
                CompareOp::Eq | CompareOp::Ne => {
                    out.sql("(roster_scim_fold_ascii(")
                        .sql(actual)
                        .sql(") ")
                        .sql(sql_op(op))
                        .sql(" ")
                        .bind(if *b { "true" } else { "false" })
                        .sql(")");
                }
                _ => {
                    out.constant(false);
                }
            }
            return;
        }
        CompValue::Null => {
            out.constant(op == CompareOp::Ne);
            return;
        }
    };
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let text = if case_exact { text } else { text.to_lowercase() };
            let escaped = like_escape(&text);
            let pattern = match op {
                CompareOp::Co => format!("%{escaped}%"),
                CompareOp::Sw => format!("{escaped}%"),
                _ => format!("%{escaped}"),
            };
            out.sql("(");
            if case_exact {
                out.sql(actual);
            } else {
                fold(out);
            }
            out.sql(" LIKE ").bind(pattern).sql(")");
        }
        _ => {
            let instant = instant_key(&text);
            if let Some(key) = &instant {
                // Both RFC 3339 date-times: compared chronologically.
                out.sql("(CASE WHEN roster_scim_instant(")
                    .sql(actual)
                    .sql(") IS NOT NULL THEN roster_scim_instant(")
                    .sql(actual)
                    .sql(") ")
                    .sql(sql_op(op))
                    .sql(" ")
                    .bind_as(key.as_str(), "numeric")
                    .sql(" ELSE ");
            } else {
                out.sql("(");
            }
            let equality = matches!(op, CompareOp::Eq | CompareOp::Ne);
            if case_exact {
                out.sql(actual);
            } else {
                fold(out);
            }
            // Equality under a deterministic collation is byte equality (and keeps the index);
            // ordering compares bytes, as Rust's `str` does.
            if !equality {
                out.sql(" COLLATE \"C\"");
            }
            out.sql(" ").sql(sql_op(op)).sql(" ");
            out.bind(if case_exact { text } else { text.to_lowercase() });
            out.sql(if instant.is_some() { " END)" } else { ")" });
        }
    }
}

/// `compare` on one jsonb value `v` (an SQL expression; NULL when absent). Never NULL.
fn json_compare(v: &str, op: CompareOp, value: &CompValue, case_exact: bool, out: &mut Condition) {
    out.sql("(CASE jsonb_typeof(").sql(v).sql(") WHEN 'string' THEN ");
    string_compare(&format!("({v} #>> '{{}}')"), None, op, value, case_exact, out);
    out.sql(" WHEN 'number' THEN ");
    number_compare(v, op, value, out);
    out.sql(" WHEN 'boolean' THEN ");
    bool_compare(v, op, value, out);
    out.sql(" ELSE FALSE END)");
}

/// `compare_number`: `v` is a jsonb number.
fn number_compare(v: &str, op: CompareOp, value: &CompValue, out: &mut Condition) {
    let expected = match value {
        CompValue::Number(n) => Some(n.clone()),
        CompValue::String(s) => serde_json::from_str::<Number>(s.trim()).ok(),
        CompValue::Bool(_) | CompValue::Null => None,
    };
    if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
        out.constant(false);
        return;
    }
    let Some(expected) = expected else {
        out.constant(op == CompareOp::Ne);
        return;
    };
    let int = expected.as_i64().map(i128::from).or_else(|| expected.as_u64().map(i128::from));
    let Some(float) = expected.as_f64() else {
        out.constant(op == CompareOp::Ne);
        return;
    };
    let as_float = |out: &mut Condition| {
        out.sql("((").sql(v).sql(")::numeric)::float8 ").sql(sql_op(op)).sql(" ");
        out.bind_as(format!("{float:?}"), "float8");
    };
    match int {
        // Both integers (as serde_json reads them: no fraction or exponent, in i64/u64 range):
        // exactly; otherwise as f64.
        Some(int) => {
            out.sql("(CASE WHEN (")
                .sql(v)
                .sql(" #>> '{}') !~ '[.eE]' AND (")
                .sql(v)
                .sql(")::numeric BETWEEN -9223372036854775808 AND 18446744073709551615 THEN (")
                .sql(v)
                .sql(")::numeric ")
                .sql(sql_op(op))
                .sql(" ")
                .bind_as(int.to_string(), "numeric")
                .sql(" ELSE ");
            as_float(out);
            out.sql(" END)");
        }
        None => {
            out.sql("(");
            as_float(out);
            out.sql(")");
        }
    }
}

/// `compare_bool`: `v` is a jsonb boolean.
fn bool_compare(v: &str, op: CompareOp, value: &CompValue, out: &mut Condition) {
    let expected = match value {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) => parse_bool(s),
        CompValue::Number(_) | CompValue::Null => None,
    };
    match (expected, op) {
        (Some(b), CompareOp::Eq | CompareOp::Ne) => {
            out.sql("((")
                .sql(v)
                .sql(")::boolean ")
                .sql(sql_op(op))
                .sql(" ")
                .bind_as(if b { "true" } else { "false" }, "boolean")
                .sql(")");
        }
        (Some(_), _) => {
            out.constant(false);
        }
        (None, op) => {
            out.constant(op == CompareOp::Ne);
        }
    }
}

#[cfg(test)]
mod tests;
