//! Where each attribute of a resource-scope path is read: a text column, `meta` rendered as the
//! gateway renders it, a group's `group_members`, or the `resource` jsonb.

use roster_scim::filter::AttrPath;

use super::jsonb::JsonBase;
use super::{FilterSqlError, ResourceKind};

/// An attribute read from a text column.
pub(super) struct Column {
    /// SQL expression of type text.
    pub(super) expr: String,
    pub(super) nullable: bool,
    /// SQL expression of the folded value, matching an index, for case-insensitive columns.
    pub(super) folded: Option<String>,
    /// The uuid column `expr` is the text of: `eq "<uuid>"` compares it, through its index.
    pub(super) uuid: Option<String>,
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
pub(super) fn meta_json(kind: ResourceKind) -> String {
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
pub(super) enum Source {
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

pub(super) fn is(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

/// How a resource-scope path is read.
pub(super) fn resource_source(kind: ResourceKind, path: &AttrPath) -> Source {
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
pub(super) fn member_column(sub: Option<&str>, x: usize) -> Result<Option<Column>, FilterSqlError> {
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
pub(super) fn column_json(column: &Column) -> String {
    format!("to_jsonb({})", column.expr)
}
