//! What user and group rows share: the live row a change applies to (after its `If-Match`
//! precondition), and deleting one by its directory's [`DeprovisionPolicy`]: erase the row, or
//! keep it as a tombstone (`deleted_at` at the event's time, one version up), invisible to every
//! read.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::DecodedChange;
use roster_scim::ScimError;
use roster_store::control::DeprovisionPolicy;
use roster_store::groups::{self, GroupRow};
use roster_store::users::{self, UserRow};
use uuid::Uuid;

use crate::decision::{ApplyError, precondition};

/// A user's or a group's row.
pub(crate) trait Row: Sized {
    /// What the row is, as a 404 names it (`no user …`).
    const KIND: &'static str;
    /// The live row, if there is one.
    fn find(conn: &mut PgConnection, directory_id: Uuid, id: Uuid) -> QueryResult<Option<Self>>;
    fn version(&self) -> i64;
    fn erase(&self, conn: &mut PgConnection) -> QueryResult<()>;
    fn tombstone(&mut self, conn: &mut PgConnection, at: DateTime<Utc>) -> QueryResult<()>;
}

macro_rules! row {
    ($row:ty, $store:ident, $kind:literal) => {
        impl Row for $row {
            const KIND: &'static str = $kind;

            fn find(
                conn: &mut PgConnection,
                directory_id: Uuid,
                id: Uuid,
            ) -> QueryResult<Option<Self>> {
                $store::find(conn, directory_id, id)
            }

            fn version(&self) -> i64 {
                self.version
            }

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

row!(UserRow, users, "user");
row!(GroupRow, groups, "group");

/// The live row a change of `event` applies to (404 if there is none), after its `If-Match`
/// precondition (412).
pub(crate) fn load_for_change<R: Row>(
    conn: &mut PgConnection,
    event: &DecodedChange,
    id: Uuid,
    if_match: Option<&str>,
) -> Result<R, ApplyError> {
    let Some(row) = R::find(conn, event.directory_id, id)? else {
        return Err(ScimError::not_found(format!("no {} {id}", R::KIND)).into());
    };
    precondition(if_match, row.version())?;
    Ok(row)
}

/// Erase or tombstone `row`, as `policy` says.
pub(crate) fn deprovision(
    conn: &mut PgConnection,
    policy: DeprovisionPolicy,
    mut row: impl Row,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    match policy {
        DeprovisionPolicy::Erase => row.erase(conn),
        DeprovisionPolicy::Tombstone => row.tombstone(conn, at),
    }
}
