use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::Connection;
use diesel::r2d2::{ConnectionManager, Pool};

use crate::StoreError;

/// The connection pool every service shares.
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// Build a pool of at most `max_size` connections. Fails if the first connection fails, so a
/// service with a wrong URL stops at start with a clear message.
pub fn connect(url: &str, max_size: u32) -> Result<PgPool, StoreError> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Ok(Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .build(manager)?)
}

/// Run blocking diesel work on tokio's blocking pool, inside one transaction, carrying the
/// caller's tracing span. The closure's error type decides what the caller gets back.
pub async fn run<T, E, F>(pool: &PgPool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut pooled = pool.get().map_err(StoreError::from)?;
        let conn: &mut PgConnection = &mut pooled;
        conn.transaction(work)
    })
    .await
    .map_err(StoreError::from)?
}

/// Like [`run`], without a transaction: for single read statements on hot paths, where
/// BEGIN/COMMIT would double the round trips for nothing.
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
        let mut conn = pool.get().map_err(StoreError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(StoreError::from)?
}
