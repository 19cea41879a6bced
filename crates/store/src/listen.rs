//! Waiting for a `NOTIFY` without polling: an async connection (made by the lookups'
//! [`LookupConnector`], so with the same TLS and URL handling) that `LISTEN`s on channels and
//! hands over each notification as it arrives.
//!
//! libpq, under the blocking diesel connection, has no way to wait for a notification short of
//! polling: the gateway's outcome hub used to look every millisecond while requests waited.
//! tokio-postgres, under diesel-async, reads a notification as soon as Postgres sends it.

use diesel::pg::PgNotification;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::{FutureExt, StreamExt};

use crate::StoreError;
use crate::lookup::LookupConnector;

/// A connection listening on some channels.
pub struct Listener {
    conn: AsyncPgConnection,
}

impl Listener {
    /// Connect and `LISTEN` on `channels` (constant identifiers, not user input). Whatever was
    /// notified before this returns is not seen: look at the state once after it.
    pub async fn start(
        connector: &LookupConnector,
        channels: &[&str],
    ) -> Result<Listener, StoreError> {
        let mut conn = connector.connect().await?;
        for channel in channels {
            diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn).await?;
        }
        Ok(Listener { conn })
    }

    /// The next notification. An error means the connection is gone (notifications may have
    /// been missed): start a new listener, then look at the state.
    pub async fn next(&mut self) -> Result<PgNotification, StoreError> {
        let mut notifications = std::pin::pin!(self.conn.notifications_stream());
        match notifications.next().await {
            Some(notification) => Ok(notification?),
            None => Err(StoreError::Connection(diesel::ConnectionError::BadConnection(
                "the listening connection closed".into(),
            ))),
        }
    }

    /// A notification that has already arrived, without waiting.
    pub fn try_next(&mut self) -> Option<Result<PgNotification, StoreError>> {
        self.next().now_or_never()
    }

    /// The connection, for statements between notifications (they arrive in order all the same).
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}
