//! Creating and dropping whole databases: for `roster migrate --create`, `make run` and the
//! per-test databases of the integration tests.

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::StoreError;

/// Split `postgres://…/name?x` into (`postgres://…/postgres?x`, `name`).
pub fn maintenance_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (prefix, name) = base.rsplit_once('/')?;
    if name.is_empty() || prefix.ends_with('/') {
        return None;
    }
    let mut admin = format!("{prefix}/postgres");
    if let Some(q) = query {
        admin.push('?');
        admin.push_str(q);
    }
    Some((admin, name.to_string()))
}

/// Create the database named in `url` if it does not exist yet.
pub fn create_if_missing(url: &str) -> Result<bool, StoreError> {
    let (admin_url, name) = maintenance_url(url)
        .ok_or_else(|| StoreError::Migration(format!("no database name in {url:?}")))?;
    let mut conn = PgConnection::establish(&admin_url)?;
    let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = {})",
        quote_literal(&name)
    )))
    .get_result(&mut conn)?;
    if exists {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut conn)?;
    Ok(true)
}

/// Drop the database named in `url`, disconnecting its sessions.
pub fn drop_if_exists(url: &str) -> Result<(), StoreError> {
    let (admin_url, name) = maintenance_url(url)
        .ok_or_else(|| StoreError::Migration(format!("no database name in {url:?}")))?;
    let mut conn = PgConnection::establish(&admin_url)?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name)))
        .execute(&mut conn)?;
    Ok(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_url_swaps_the_database_name() {
        assert_eq!(
            maintenance_url("postgres://postgres@127.0.0.1:5432/roster"),
            Some(("postgres://postgres@127.0.0.1:5432/postgres".into(), "roster".into()))
        );
        assert_eq!(
            maintenance_url("postgres://u@h/db?sslmode=disable"),
            Some(("postgres://u@h/postgres?sslmode=disable".into(), "db".into()))
        );
        assert_eq!(maintenance_url("postgres://u@h/"), None);
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
