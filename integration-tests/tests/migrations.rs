//! Every migration can be reverted and applied again.

use diesel::RunQueryDsl;
use roster_integration_tests::{TestDatabase, test_settings};

#[test]
fn every_down_migration_reverts_its_up() {
    let settings = test_settings();
    let db = TestDatabase::create(&settings.database.url);
    let mut conn = db.conn();
    let reverted = roster_store::migrations::revert_all(&mut conn).unwrap();
    assert!(reverted.len() >= 3);
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    assert!(tables.is_empty(), "left behind after revert: {tables:?}");
    let applied = roster_store::migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), reverted.len());
}

#[derive(Debug, diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)]
    table_name: String,
}
