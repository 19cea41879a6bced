//! The gateway's lookup connections (`roster_store::lookup`: tokio-postgres, not libpq) connect
//! as libpq would from the same `database.url`: TLS as `sslmode` says, the server's certificate
//! checked for `verify-ca` and `verify-full`, and `gateway.statement_timeout_ms` in force. Against
//! this machine's Postgres, which serves TLS with a self-signed certificate for `localhost`.
//! Beside them, the consumers' connections, which plan each statement.

use std::time::Duration;

use diesel::sql_types::{Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, sql_query};
use diesel_async::RunQueryDsl;
use roster_integration_tests::test_settings;
use roster_store::PoolOptions;
use roster_store::database::maintenance_url;
use roster_store::lookup::{self, LookupConnector};

#[derive(QueryableByName, Debug)]
struct Session {
    #[diesel(sql_type = Bool)]
    ssl: bool,
    #[diesel(sql_type = Text)]
    statement_timeout: String,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The server's database `postgres`, reached at `host`, with `query` after `?`.
fn url(host: &str, query: &str) -> String {
    let (server, _) = maintenance_url(&test_settings().database.url).unwrap();
    let server = server.split_once('?').map_or(server.as_str(), |(base, _)| base).to_string();
    format!("{}?{query}", server.replace("127.0.0.1", host))
}

fn server_setting(name: &str) -> String {
    let mut conn = PgConnection::establish(&url("127.0.0.1", "sslmode=disable")).unwrap();
    let query = sql_query(format!("SELECT current_setting('{name}') AS value"));
    let rows: Vec<Setting> = diesel::RunQueryDsl::load(query, &mut conn).unwrap();
    rows[0].value.clone()
}

/// Connect one lookup connection with `url` and say what the server sees of it.
async fn session(url: &str) -> Result<Session, String> {
    let options = PoolOptions { statement_timeout: Some(Duration::from_millis(1234)) };
    let connector = LookupConnector::new(url, options).map_err(|e| e.to_string())?;
    let pool = connector.pool(1);
    let mut conn = lookup::checkout(&pool).await.map_err(|e| e.to_string())?;
    sql_query(
        "SELECT ssl, current_setting('statement_timeout') AS statement_timeout \
         FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result::<Session>(&mut *conn)
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn lookup_connections_speak_tls_as_libpq_would() {
    assert_eq!(server_setting("ssl"), "on", "these tests need Postgres serving TLS");
    let certificate = server_setting("ssl_cert_file");

    let plain = session(&url("127.0.0.1", "sslmode=disable")).await.unwrap();
    assert!(!plain.ssl, "sslmode=disable");
    assert_eq!(plain.statement_timeout, "1234ms");
    // libpq's default, `prefer`, takes TLS when the server offers it; `require` insists.
    for query in ["application_name=lookups", "sslmode=prefer", "sslmode=require"] {
        let session = session(&url("127.0.0.1", query)).await.unwrap();
        assert!(session.ssl, "{query}");
        assert_eq!(session.statement_timeout, "1234ms", "{query}");
    }

    // The self-signed certificate as the root: it chains, and it names localhost only.
    let root = format!("sslrootcert={certificate}");
    let verify_ca = session(&url("127.0.0.1", &format!("sslmode=verify-ca&{root}"))).await;
    assert!(verify_ca.unwrap().ssl, "verify-ca");
    let verify_full = session(&url("localhost", &format!("sslmode=verify-full&{root}"))).await;
    assert!(verify_full.unwrap().ssl, "verify-full, the name the certificate holds");
    let wrong_name = session(&url("127.0.0.1", &format!("sslmode=verify-full&{root}"))).await;
    assert!(wrong_name.is_err(), "verify-full to a name the certificate lacks: {wrong_name:?}");
    // Only the roots of `sslrootcert` count, as with libpq: not the machine's (which, here,
    // trust this certificate).
    let public =
        "sslmode=verify-ca&sslrootcert=/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt";
    let untrusted = session(&url("127.0.0.1", public)).await;
    assert!(untrusted.is_err(), "verify-ca against roots that do not sign it: {untrusted:?}");
}

#[tokio::test]
async fn a_url_the_lookups_cannot_use_stops_at_start() {
    let refused = ["gssencmode=require", "sslcompression=1", "sslmode=verify-ca&sslrootcert=/none"];
    for query in refused {
        let connector = LookupConnector::new(&url("127.0.0.1", query), PoolOptions::default());
        let Err(error) = connector else { panic!("{query} was accepted") };
        assert!(error.to_string().contains("lookups"), "{query}: {error}");
    }
}

/// A consumer's connection plans every statement for its parameters; a lookup connection keeps
/// Postgres's default plan caching, whose generic plans the lookups are made for (design 0009).
#[tokio::test]
async fn consumers_plan_each_statement_and_lookups_keep_the_default() {
    let plan_cache_mode = "SELECT current_setting('plan_cache_mode') AS value";
    let url = url("127.0.0.1", "sslmode=disable");
    let mut consumer = roster_store::establish_for_batches(&url).unwrap();
    let rows: Vec<Setting> =
        diesel::RunQueryDsl::load(sql_query(plan_cache_mode), &mut consumer).unwrap();
    assert_eq!(rows[0].value, "force_custom_plan");

    let pool = LookupConnector::new(&url, PoolOptions::default()).unwrap().pool(1);
    let mut lookup = lookup::checkout(&pool).await.unwrap();
    let setting: Setting = sql_query(plan_cache_mode).get_result(&mut *lookup).await.unwrap();
    assert_eq!(setting.value, server_setting("plan_cache_mode"));
}
