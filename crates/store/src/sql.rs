//! SQL functions the queries use.

use diesel::sql_types::Text;

diesel::define_sql_function! {
    /// Postgres `lower(text)`: tenant and directory names compare case-insensitively through
    /// it, matching their `lower(…)` unique indexes. (userName and group displayName fold with
    /// ICU: see [`user_name_is`] and [`group_display_name_is`].)
    fn lower(x: Text) -> Text;
}

/// `groups.display_name` equals `display_name`, folded as the `groups_display_name_key` unique
/// index folds it (ICU), so the index answers it.
pub fn group_display_name_is(
    display_name: &str,
) -> diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    impl diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId,
> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(
        "lower(groups.display_name COLLATE \"und-x-icu\") = lower(",
    )
    .bind::<Text, _>(display_name.to_string())
    .sql(" COLLATE \"und-x-icu\")")
}

/// `userName` equals `user_name`, folded as the `users_user_name_key` unique index folds it
/// (ICU, which agrees with Rust's `to_lowercase`), so the index answers it.
pub fn user_name_is(
    user_name: &str,
) -> diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    impl diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId,
> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(
        "lower(users.user_name COLLATE \"und-x-icu\") = lower(",
    )
    .bind::<Text, _>(user_name.to_string())
    .sql(" COLLATE \"und-x-icu\")")
}
