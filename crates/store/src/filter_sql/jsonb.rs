//! The evaluator's lookups in the `resource` jsonb, written in SQL: a key in any case, the
//! extension fallback, and the values of a (multi-valued) attribute as rows.

use super::ResourceKind;
use super::condition::Condition;

/// A jsonb expression for the attribute named by a path, before its sub-attribute.
pub(super) enum JsonBase {
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
pub(super) fn write_get(obj: &str, name: &str, out: &mut Condition) {
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
pub(super) fn write_values_from(
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
