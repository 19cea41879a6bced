//! The notification outbox: every downstream notification, in a gap-free sequence per
//! directory, appended by the role-mapper in the transaction that decided it, published to Kafka
//! by the relay in `position` order, and kept for the Events API.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use uuid::Uuid;

use crate::schema::notifications;

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub directory_id: Uuid,
    pub sequence: i64,
    pub id: Uuid,
    #[diesel(column_name = type_)]
    pub kind: String,
    pub subject_id: Option<Uuid>,
    pub cause_event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The protobuf `roster.notifications.v1.Notification`, exactly as published.
    pub payload: Vec<u8>,
}

/// Reserve `count` sequence numbers of a directory and return the first. The row stays locked
/// until the transaction ends, so concurrent writers of one directory queue up and the numbers
/// are gap-free: they are used only if the transaction commits.
pub fn reserve(conn: &mut PgConnection, directory_id: Uuid, count: i64) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = BigInt)]
        last_sequence: i64,
    }
    let last: Last = diesel::sql_query(
        "INSERT INTO notification_sequences (directory_id, last_sequence) VALUES ($1, $2) \
         ON CONFLICT (directory_id) DO UPDATE \
         SET last_sequence = notification_sequences.last_sequence + EXCLUDED.last_sequence \
         RETURNING last_sequence",
    )
    .bind::<SqlUuid, _>(directory_id)
    .bind::<BigInt, _>(count)
    .get_result(conn)?;
    Ok(last.last_sequence - count + 1)
}

/// The channel on which an append is announced, so that the relay of another replica (only one
/// publishes) learns of it when it commits, not at its next poll.
pub const APPENDED_CHANNEL: &str = "roster_outbox";

/// Append notifications (their sequences reserved with [`reserve`]), and announce them on
/// [`APPENDED_CHANNEL`]: Postgres delivers the `NOTIFY` when the transaction commits, once per
/// transaction however many appends it made, and never if it rolls back.
pub fn append(conn: &mut PgConnection, rows: &[NotificationRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Postgres takes at most 65,535 bind parameters per statement.
    for chunk in rows.chunks(4096) {
        diesel::insert_into(notifications::table).values(chunk).execute(conn)?;
    }
    diesel::sql_query(format!("NOTIFY {APPENDED_CHANNEL}")).execute(conn).map(drop)
}

/// One notification waiting for the relay.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Unpublished {
    pub position: i64,
    pub directory_id: Uuid,
    pub sequence: i64,
    pub payload: Vec<u8>,
    /// When it was appended (for the relay's latency).
    pub created_at: DateTime<Utc>,
}

/// How many notifications wait to be published (the partial index of unpublished rows).
pub fn backlog(conn: &mut PgConnection) -> QueryResult<i64> {
    notifications::table.filter(notifications::published_at.is_null()).count().get_result(conn)
}

/// The oldest notifications not yet published, in `position` order (which is sequence order
/// within a directory), leaving out the directories in `held` (whose publishing is held back
/// after a failure, so that they do not hold back the others).
pub fn unpublished(
    conn: &mut PgConnection,
    limit: i64,
    held: &[Uuid],
) -> QueryResult<Vec<Unpublished>> {
    notifications::table
        .filter(notifications::published_at.is_null())
        .filter(notifications::directory_id.ne_all(held))
        .order(notifications::position)
        .limit(limit)
        .select((
            notifications::position,
            notifications::directory_id,
            notifications::sequence,
            notifications::payload,
            notifications::created_at,
        ))
        .load(conn)
}

/// Mark notifications published (the broker acknowledged them).
pub fn mark_published(conn: &mut PgConnection, positions: &[i64]) -> QueryResult<()> {
    diesel::update(notifications::table)
        .filter(notifications::position.eq_any(positions))
        .filter(notifications::published_at.is_null())
        .set(notifications::published_at.eq(Utc::now()))
        .execute(conn)
        .map(drop)
}

/// A directory's notifications after `after`, in sequence order (the Events API).
pub fn list_after(
    conn: &mut PgConnection,
    directory_id: Uuid,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    notifications::table
        .filter(notifications::directory_id.eq(directory_id))
        .filter(notifications::sequence.gt(after))
        .order(notifications::sequence)
        .limit(limit)
        .select(NotificationRow::as_select())
        .load(conn)
}

/// Replace an unpublished notification's payload with its bounded form (it was too large to
/// publish), so that the outbox keeps what was published.
pub fn replace_payload(conn: &mut PgConnection, position: i64, payload: &[u8]) -> QueryResult<()> {
    diesel::update(notifications::table)
        .filter(notifications::position.eq(position))
        .filter(notifications::published_at.is_null())
        .set(notifications::payload.eq(payload))
        .execute(conn)
        .map(drop)
}

/// Rewrite the payloads of a subject's notifications with `scrub` (the ids-only form), when the
/// subject is erased: the outbox keeps every notification, and must not keep its personal data.
/// Returns how many were rewritten.
pub fn scrub_subject(
    conn: &mut PgConnection,
    directory_id: Uuid,
    subject_id: Uuid,
    scrub: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> QueryResult<usize> {
    let rows: Vec<(i64, Vec<u8>)> = notifications::table
        .filter(notifications::directory_id.eq(directory_id))
        .filter(notifications::subject_id.eq(subject_id))
        .select((notifications::position, notifications::payload))
        .load(conn)?;
    let mut rewritten = 0;
    for (position, payload) in rows {
        if let Some(scrubbed) = scrub(&payload).filter(|s| *s != payload) {
            diesel::update(notifications::table.filter(notifications::position.eq(position)))
                .set(notifications::payload.eq(scrubbed))
                .execute(conn)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// Delete a deleted directory's published notifications (those not yet published still go out,
/// and are pruned after the retention).
pub fn forget_published(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<usize> {
    diesel::delete(
        notifications::table
            .filter(notifications::directory_id.eq(directory_id))
            .filter(notifications::published_at.is_not_null()),
    )
    .execute(conn)
}

/// Delete up to `batch` published notifications appended before `before` (never an unpublished
/// one); returns how many went.
pub fn prune_published(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM notifications WHERE position IN \
           (SELECT position FROM notifications \
             WHERE published_at IS NOT NULL AND created_at < $1 ORDER BY created_at LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}
