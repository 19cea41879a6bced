//! Consumer offsets kept in Postgres, written in the same transaction as the effects they
//! account for, and sought to when a partition is assigned.

use chrono::Utc;
use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

use crate::schema::consumer_offsets;

/// Where a consumer group stands on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    /// Offset of the next event to apply.
    pub next_offset: i64,
    /// Id of the event at `next_offset - 1`, the last one applied.
    pub last_event_id: Option<Uuid>,
}

/// Every stored position of `group` on `topic`.
pub fn load(conn: &mut PgConnection, group: &str, topic: &str) -> QueryResult<Vec<Position>> {
    consumer_offsets::table
        .filter(consumer_offsets::consumer_group.eq(group))
        .filter(consumer_offsets::topic.eq(topic))
        .select((
            consumer_offsets::kafka_partition,
            consumer_offsets::next_offset,
            consumer_offsets::last_event_id,
        ))
        .load::<(i32, i64, Option<Uuid>)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(partition, next_offset, last_event_id)| Position {
                    partition,
                    next_offset,
                    last_event_id,
                })
                .collect()
        })
}

/// The stored position of one partition, locked until the transaction ends so that a second
/// consumer that believes it owns the partition (a zombie after a rebalance) waits, then sees
/// the new position instead of applying the same events again.
pub fn lock(
    conn: &mut PgConnection,
    group: &str,
    topic: &str,
    partition: i32,
) -> QueryResult<Option<Position>> {
    consumer_offsets::table
        .find((group, topic, partition))
        .select((consumer_offsets::next_offset, consumer_offsets::last_event_id))
        .for_update()
        .first::<(i64, Option<Uuid>)>(conn)
        .optional()
        .map(|row| {
            row.map(|(next_offset, last_event_id)| Position {
                partition,
                next_offset,
                last_event_id,
            })
        })
}

/// Store a position (insert or overwrite).
pub fn store(
    conn: &mut PgConnection,
    group: &str,
    topic: &str,
    position: Position,
) -> QueryResult<()> {
    diesel::insert_into(consumer_offsets::table)
        .values((
            consumer_offsets::consumer_group.eq(group),
            consumer_offsets::topic.eq(topic),
            consumer_offsets::kafka_partition.eq(position.partition),
            consumer_offsets::next_offset.eq(position.next_offset),
            consumer_offsets::last_event_id.eq(position.last_event_id),
            consumer_offsets::updated_at.eq(Utc::now()),
        ))
        .on_conflict((
            consumer_offsets::consumer_group,
            consumer_offsets::topic,
            consumer_offsets::kafka_partition,
        ))
        .do_update()
        .set((
            consumer_offsets::next_offset.eq(excluded(consumer_offsets::next_offset)),
            consumer_offsets::last_event_id.eq(excluded(consumer_offsets::last_event_id)),
            consumer_offsets::updated_at.eq(excluded(consumer_offsets::updated_at)),
        ))
        .execute(conn)
        .map(drop)
}
