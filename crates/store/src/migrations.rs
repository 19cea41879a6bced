//! Embedded migrations, run as an explicit step (`roster migrate`, a Kubernetes Job), never by
//! every replica at boot. An advisory lock makes concurrent runs wait for each other.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Key of the advisory lock held while migrating ("roster" in ASCII).
const MIGRATION_LOCK: i64 = 0x726f_7374_6572;

/// Apply every pending migration; returns the versions applied.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    with_lock(conn, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Migration(e.to_string()))
    })
}

/// Revert every applied migration (used by the test that proves each `down.sql` works).
pub fn revert_all(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    with_lock(conn, |conn| {
        conn.revert_all_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Migration(e.to_string()))
    })
}

fn with_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    let result = work(conn);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn)?;
    result
}
