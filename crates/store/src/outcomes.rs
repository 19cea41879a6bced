//! Event outcomes: what the projector decided for each change event, read by the gateway to
//! answer the request that produced the event.

use chrono::{DateTime, Utc};
use diesel::dsl::AsSelect;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::event_outcomes;

/// The `NOTIFY` channel on which the projector announces committed outcomes. The payload is a
/// comma-separated list of event ids.
pub const OUTCOMES_CHANNEL: &str = "roster_outcomes";

/// Postgres limits a NOTIFY payload to 8000 bytes; ids are 36 bytes and a comma.
pub const IDS_PER_NOTIFY: usize = 200;

/// The body of a 2xx outcome: what `meta` is built from, and the resource as stored when the
/// gateway does not already hold it. The gateway renders the response from it (it alone knows
/// the public URL for `meta.location`).
///
/// A user's create or replace stores exactly the resource the request carried, which the
/// gateway that published it still holds: its outcome leaves `resource` out (design 0009), so
/// the resource is not written a second time. A PATCH's result and a group (whose members are
/// filtered) are only known here and are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<serde_json::Value>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub version: i64,
    /// A group's members (`[{"value", "type"}]`), when the response shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_outcomes)]
pub struct OutcomeRow {
    pub event_id: Uuid,
    pub directory_id: Uuid,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    /// The HTTP status the request is answered with.
    pub status: i16,
    pub resource_id: Option<Uuid>,
    /// The response body: the resource for a 2xx, the SCIM error for a 4xx, none for a 204.
    pub body: Option<serde_json::Value>,
    pub applied_at: DateTime<Utc>,
}

/// Record outcomes. An event seen twice (a redelivery) keeps its first outcome.
pub fn insert_all(conn: &mut PgConnection, rows: &[OutcomeRow]) -> QueryResult<()> {
    // Postgres allows 65535 bind parameters; 8 per row.
    for chunk in rows.chunks(4096) {
        diesel::insert_into(event_outcomes::table)
            .values(chunk)
            .on_conflict(event_outcomes::event_id)
            .do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

/// The outcomes of these events, those that exist.
#[diesel::dsl::auto_type(no_type_alias)]
fn of_events<'a>(ids: &'a [Uuid]) -> _ {
    let select: AsSelect<OutcomeRow, Pg> = OutcomeRow::as_select();
    event_outcomes::table.filter(event_outcomes::event_id.eq_any(ids)).select(select)
}

pub fn find_many(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<OutcomeRow>> {
    of_events(ids).load(conn)
}

/// [`find_many`] on an async connection (the gateway's outcome hub).
pub async fn find_many_async(
    conn: &mut diesel_async::AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<OutcomeRow>> {
    diesel_async::RunQueryDsl::load(of_events(ids), conn).await
}

/// `NOTIFY` the given event ids (through `pg_notify`, which takes bind parameters); delivered to listeners when the surrounding transaction commits.
pub fn notify(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<()> {
    for chunk in ids.chunks(IDS_PER_NOTIFY) {
        let payload = chunk.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(OUTCOMES_CHANNEL)
            .bind::<Text, _>(payload)
            .execute(conn)?;
    }
    Ok(())
}

/// Erase the response bodies (the resource as it was: personal data) of a resource's outcomes,
/// when the resource is erased. Their statuses stay.
pub fn forget_resource(
    conn: &mut PgConnection,
    directory_id: Uuid,
    resource_id: Uuid,
) -> QueryResult<usize> {
    diesel::update(event_outcomes::table)
        .filter(event_outcomes::directory_id.eq(directory_id))
        .filter(event_outcomes::resource_id.eq(resource_id))
        .filter(event_outcomes::body.is_not_null())
        .set(event_outcomes::body.eq(None::<serde_json::Value>))
        .execute(conn)
}

/// Delete a deleted directory's applied outcomes (the resources they answered with). Its
/// rejections stay until the retention: they hold no resource, and requests may still wait for
/// the latest of them (the deletion's own outcome is a 204).
pub fn forget_directory(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<usize> {
    diesel::delete(
        event_outcomes::table
            .filter(event_outcomes::directory_id.eq(directory_id))
            .filter(event_outcomes::status.lt(300))
            .filter(event_outcomes::body.is_not_null()),
    )
    .execute(conn)
}

/// Delete up to `batch` outcomes recorded before `before`; returns how many went.
pub fn prune(conn: &mut PgConnection, before: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM event_outcomes WHERE event_id IN \
           (SELECT event_id FROM event_outcomes WHERE applied_at < $1 ORDER BY applied_at LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
}
