//! The SQL builder: a condition's text and bound values, and the diesel expression it is.

use std::fmt;

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Text};

use crate::schema::{groups, users};

/// One piece of a condition: SQL text from this module, or a bound text value.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(String),
}

/// A SQL boolean condition over `users` or `groups` (as its
/// [`ResourceKind`](super::ResourceKind) was), every value bound. Built by
/// [`translate`](super::translate) and [`translate_group`](super::translate_group); usable
/// wherever diesel takes a filter on that table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    parts: Vec<Part>,
    /// Whether statements with this condition may be kept prepared on the connection: only for
    /// filters of one comparison (Entra's lookups), whose SQL texts are few. Others vary with
    /// the filter's shape and would grow the connection's statement cache without bound.
    cacheable: bool,
}

impl Condition {
    /// An empty condition, whose statements are kept prepared if `cacheable`.
    pub(super) fn new(cacheable: bool) -> Condition {
        Condition { cacheable, ..Condition::default() }
    }

    pub(super) fn sql(&mut self, text: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Sql(last)) => last.push_str(text),
            _ => self.parts.push(Part::Sql(text.to_owned())),
        }
        self
    }

    pub(super) fn bind(&mut self, value: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Bind(value.into()));
        self
    }

    /// A bound value cast to `ty` (`numeric`, `uuid`, …).
    pub(super) fn bind_as(&mut self, value: impl Into<String>, ty: &str) -> &mut Self {
        self.sql("CAST(").bind(value).sql(" AS ").sql(ty).sql(")")
    }

    pub(super) fn constant(&mut self, value: bool) -> &mut Self {
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
