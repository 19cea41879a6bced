//! A filter's tree walked into one condition: `and`/`or`/`not`, `pr`, comparisons and value
//! paths, at the resource's scope or inside `attr[…]`.

use roster_scim::filter::{
    AttrPath, AttributeInfo, CompValue, CompareOp, DefaultAttributeInfo, Filter,
};
use serde_json::Number;

use super::columns::{Source, column_json, is, member_column, meta_json, resource_source};
use super::compare::{column_compare, instant_key, json_compare, parse_bool};
use super::condition::Condition;
use super::jsonb::{JsonBase, write_get, write_values_from};
use super::{FilterSqlError, ResourceKind};

pub(super) fn translate_for(
    kind: ResourceKind,
    filter: &Filter,
) -> Result<Condition, FilterSqlError> {
    let mut out = Condition::new(matches!(filter, Filter::Compare { .. } | Filter::Present(_)));
    Translator { kind, next_alias: 0 }.filter(filter, Scope::Resource, &mut out)?;
    Ok(out)
}

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
