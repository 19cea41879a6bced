use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};

use crate::StoreError;

/// The connection pool every service shares. A connection that failed and no longer answers
/// is not handed out again: diesel marks it broken (libpq reports its transaction status as
/// unknown) and r2d2 replaces it (`integration-tests/tests/faults.rs` cuts every connection).
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// How a pool's connections are made and checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolOptions {
    /// Longest a statement on these connections may run (`statement_timeout`); past it Postgres
    /// cancels it (SQLSTATE 57014, a transient failure: 503). None: no limit.
    pub statement_timeout: Option<Duration>,
}

/// Build a pool of at most `max_size` connections. Fails if the first connection fails, so a
/// service with a wrong URL stops at start with a clear message.
pub fn connect(url: &str, max_size: u32) -> Result<PgPool, StoreError> {
    connect_with(url, max_size, PoolOptions::default())
}

/// [`connect`], with options.
pub fn connect_with(url: &str, max_size: u32, options: PoolOptions) -> Result<PgPool, StoreError> {
    Ok(Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .connection_customizer(Box::new(OnAcquire(options)))
        .build(ConnectionManager::new(url))?)
}

#[derive(Debug)]
struct OnAcquire(PoolOptions);

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for OnAcquire {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        // Prepared statements keep Postgres's default plan caching (`plan_cache_mode = auto`):
        // the lookups' generic plan took the unique index in every state tried (an empty table,
        // unanalyzed rows, analyzed ones), and planning each execution instead cost Postgres
        // 65 µs of CPU per lookup (docs/benchmarks.md). Should a plan go wrong, an operator
        // forces per-execution plans without a release:
        // `ALTER DATABASE roster SET plan_cache_mode = force_custom_plan`.
        if let Some(timeout) = self.0.statement_timeout {
            conn.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// A connection of its own for a consumer's loop, whose statements each serve a batch: planned
/// for their parameters every time (`plan_cache_mode = force_custom_plan`).
///
/// A prepared statement's generic plan is made once, with the statistics of that moment. Made
/// while a table is nearly empty (a new database, or statistics autovacuum has not refreshed
/// yet), it keeps scanning the whole table as the table grows: the role-mapper's
/// `users_by_ids` went through `users_external_id` on `directory_id` alone and took 6.6 ms per
/// batch instead of 0.2 in a benchmark (docs/benchmarks.md). Planning a batch's statement
/// costs little beside the batch.
///
/// Not for the relay: planned each time, its scan of the unpublished notifications took 0.5–0.6
/// ms per call instead of 0.07 in the same benchmark (docs/designs/0009-what-a-create-writes.md).
pub fn establish_for_batches(url: &str) -> Result<PgConnection, StoreError> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute("SET plan_cache_mode = force_custom_plan")?;
    Ok(conn)
}

/// Run blocking diesel reads on tokio's blocking pool, carrying the caller's tracing span: how
/// the gateway reaches Postgres. It only reads (every change goes through the log, and the
/// consumers write in their own transactions), so there is no transaction: BEGIN/COMMIT would
/// double the round trips of its single statements for nothing. The closure's error type
/// decides what the caller gets back.
pub async fn run_read<T, E, F>(pool: &PgPool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let waited = std::time::Instant::now();
        let checkout = pool.get();
        metrics::histogram!("roster_db_pool_checkout_seconds").record(waited.elapsed());
        let state = pool.state();
        metrics::gauge!("roster_db_pool_connections", "state" => "idle")
            .set(f64::from(state.idle_connections));
        metrics::gauge!("roster_db_pool_connections", "state" => "in_use")
            .set(f64::from(state.connections - state.idle_connections));
        let mut conn = checkout.map_err(StoreError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(StoreError::from)?
}

/// Run blocking diesel work in one transaction on tokio's blocking pool, carrying the caller's
/// tracing span: the gateway's control-plane writes (tenants, directories, tokens, the audit
/// log), which do not go through the change log. The transaction commits when `work` returns
/// `Ok` and rolls back on `Err`, so nothing is half-written.
pub async fn run_write<T, E, F>(pool: &PgPool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
{
    use diesel::Connection;
    run_read(pool, move |conn| conn.transaction(work)).await
}
