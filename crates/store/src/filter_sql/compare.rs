//! Comparisons (`eq`, `co`, `gt`, …) of a text column or a jsonb value with a filter's value,
//! with the evaluator's semantics: case folding, date-times, numbers and booleans.

use chrono::DateTime;
use roster_scim::filter::{CompValue, CompareOp};
use serde_json::Number;
use uuid::Uuid;

use super::columns::Column;
use super::condition::Condition;

/// Fold like `str::to_lowercase`, for the SQL side.
const FOLD_OPEN: &str = "lower((";
const FOLD_CLOSE: &str = ") COLLATE \"und-x-icu\")";

/// `parse_bool`: `"true"`/`"false"` in any (ASCII) case.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
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
pub(super) fn instant_key(text: &str) -> Option<String> {
    let at = DateTime::parse_from_rfc3339(text).ok()?;
    let seconds = i128::from(at.timestamp());
    let nanos = i128::from(at.timestamp_subsec_nanos());
    Some((seconds * 2_000_000_000 + nanos).to_string())
}

/// A comparison on a text column (never null when `column.nullable` is false).
pub(super) fn column_compare(
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
pub(super) fn json_compare(
    v: &str,
    op: CompareOp,
    value: &CompValue,
    case_exact: bool,
    out: &mut Condition,
) {
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
