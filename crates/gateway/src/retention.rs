//! Retention: what Roster keeps about requests and their effects is pruned after a time
//! (`[retention]`): the provisioning log, the event outcomes, and the published notifications
//! of the outbox (the Events API's window; an unpublished notification is never pruned). The
//! projection itself (users, groups) and the change log are never pruned.
//!
//! One gateway at a time prunes (a transaction-scoped advisory lock), in small batches of their
//! own transactions, so the pipeline's writes never wait on it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use roster_platform::settings::RetentionSettings;
use roster_store::{PgConnection, PgPool, outbox, outcomes, provisioning_log};

use crate::error::ApiError;

/// Rows deleted per statement (each its own short transaction).
const BATCH: i64 = 5_000;
/// The advisory lock that lets one gateway prune at a time ("rosterpl").
const LOCK: i64 = 0x726f_7374_6572_706c;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub provisioning_log: usize,
    pub outcomes: usize,
    pub notifications: usize,
}

/// Prune every `retention.prune_every_s`, from now on.
pub fn spawn(pool: PgPool, settings: RetentionSettings) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(settings.prune_every_s.max(1)));
        loop {
            tick.tick().await;
            let settings = settings.clone();
            let now = Utc::now();
            match roster_store::run_read(&pool, move |conn| prune(conn, &settings, now)).await {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(
                        provisioning_log = pruned.provisioning_log,
                        outcomes = pruned.outcomes,
                        notifications = pruned.notifications,
                        "pruned past the retention"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "pruning failed; trying again later"),
            }
        }
    });
}

/// One pass: delete what is older than each retention, as of `now`.
pub fn prune(
    conn: &mut PgConnection,
    settings: &RetentionSettings,
    now: DateTime<Utc>,
) -> Result<Pruned, ApiError> {
    let days = |d: u32| now - chrono::Duration::days(i64::from(d));
    Ok(Pruned {
        provisioning_log: in_batches(conn, |c| {
            provisioning_log::prune(c, days(settings.provisioning_log_days), BATCH)
        })?,
        outcomes: in_batches(conn, |c| outcomes::prune(c, days(settings.outcomes_days), BATCH))?,
        notifications: in_batches(conn, |c| {
            outbox::prune_published(c, days(settings.notifications_days), BATCH)
        })?,
    })
}

/// Run `delete` (at most [`BATCH`] rows) in its own transaction while this gateway holds the
/// pruning lock, until fewer than a batch go.
fn in_batches(
    conn: &mut PgConnection,
    mut delete: impl FnMut(&mut PgConnection) -> diesel::QueryResult<usize>,
) -> Result<usize, ApiError> {
    use diesel::Connection;
    let mut total = 0;
    loop {
        let deleted = conn.transaction::<_, ApiError, _>(|conn| {
            if !try_lock(conn)? {
                return Ok(0);
            }
            Ok(delete(conn)?)
        })?;
        total += deleted;
        if deleted < BATCH as usize {
            return Ok(total);
        }
    }
}

fn try_lock(conn: &mut PgConnection) -> Result<bool, ApiError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(LOCK)
        .get_result(conn)?;
    Ok(row.locked)
}
