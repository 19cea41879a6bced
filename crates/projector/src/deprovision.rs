//! Deleting a user or group by its directory's [`DeprovisionPolicy`]: erase the row, or keep it
//! as a tombstone (`deleted_at` at the event's time, one version up), invisible to every read.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_store::control::DeprovisionPolicy;
use roster_store::groups::{self, GroupRow};
use roster_store::users::{self, UserRow};

/// A row a DELETE deprovisions.
pub(crate) trait Deprovisioned {
    fn erase(&self, conn: &mut PgConnection) -> QueryResult<()>;
    fn tombstone(&mut self, conn: &mut PgConnection, at: DateTime<Utc>) -> QueryResult<()>;
}

macro_rules! deprovisioned {
    ($row:ty, $store:ident) => {
        impl Deprovisioned for $row {
            fn erase(&self, conn: &mut PgConnection) -> QueryResult<()> {
                $store::erase(conn, self.directory_id, self.id)
            }

            fn tombstone(&mut self, conn: &mut PgConnection, at: DateTime<Utc>) -> QueryResult<()> {
                self.deleted_at = Some(at);
                self.last_modified = at;
                self.version += 1;
                $store::update(conn, self)
            }
        }
    };
}

deprovisioned!(UserRow, users);
deprovisioned!(GroupRow, groups);

/// Erase or tombstone `row`, as `policy` says.
pub(crate) fn deprovision(
    conn: &mut PgConnection,
    policy: DeprovisionPolicy,
    mut row: impl Deprovisioned,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    match policy {
        DeprovisionPolicy::Erase => row.erase(conn),
        DeprovisionPolicy::Tombstone => row.tombstone(conn, at),
    }
}
