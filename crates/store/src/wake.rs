//! Waking idle consumers: the gateway says "the change log has news" with a `NOTIFY` on
//! [`CHANGES_CHANNEL`] after the broker acknowledged an event, and a consumer that has parked
//! its partitions (stopped fetching while nothing happens) `LISTEN`s for it. The wake-up is a
//! hint that saves polling, never the source of truth: a parked consumer also looks at the log
//! on its own every so often (`kafka.idle_park_max_ms`), so a lost wake-up only delays.

use diesel::{PgConnection, RunQueryDsl};

/// The channel of wake-ups.
pub const CHANGES_CHANNEL: &str = "roster_changes";

/// Start listening on this connection.
pub fn listen(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    diesel::sql_query(format!("LISTEN {CHANGES_CHANNEL}")).execute(conn).map(drop)
}

/// Wake the listening consumers (from the gateway's outcome hub, on its async connection).
pub async fn notify(conn: &mut diesel_async::AsyncPgConnection) -> diesel::QueryResult<()> {
    let query = diesel::sql_query(format!("NOTIFY {CHANGES_CHANNEL}"));
    diesel_async::RunQueryDsl::execute(query, conn).await.map(drop)
}

/// Take every notification that arrived on this connection (without blocking); true if a
/// wake-up was among them.
pub fn drain(conn: &mut PgConnection) -> diesel::QueryResult<bool> {
    let mut woken = false;
    for notification in conn.notifications_iter() {
        woken |= notification?.channel == CHANGES_CHANNEL;
    }
    Ok(woken)
}
