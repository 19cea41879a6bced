//! SQL functions the queries use.

use diesel::sql_types::Text;

diesel::define_sql_function! {
    /// Postgres `lower(text)`: userName and displayName compare case-insensitively through it,
    /// matching the `lower(…)` unique indexes.
    fn lower(x: Text) -> Text;
}
