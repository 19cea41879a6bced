//! Operator rejections (`roster log reject`): events the consumers move past without applying
//! them, with who rejected each, when and why. Keyed by the event's place in the log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::operator_rejections;

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_rejections)]
pub struct OperatorRejection {
    pub topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub event_id: Uuid,
    pub directory_id: Uuid,
    /// Who rejected it (`--actor`, else `$USER`).
    pub actor: String,
    pub reason: String,
    pub rejected_at: DateTime<Utc>,
}

/// The offsets in `first..=last` of a partition that an operator rejected (a primary-key range
/// scan: the consumers ask this for every batch).
pub fn offsets_in(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    first: i64,
    last: i64,
) -> QueryResult<Vec<i64>> {
    operator_rejections::table
        .filter(operator_rejections::topic.eq(topic))
        .filter(operator_rejections::kafka_partition.eq(partition))
        .filter(operator_rejections::kafka_offset.between(first, last))
        .select(operator_rejections::kafka_offset)
        .load(conn)
}

/// The rejection of the event at `offset`, if any.
pub fn find(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    offset: i64,
) -> QueryResult<Option<OperatorRejection>> {
    operator_rejections::table
        .find((topic, partition, offset))
        .select(OperatorRejection::as_select())
        .first(conn)
        .optional()
}

/// The outcome an operator-rejected event gets (what a request still waiting for it is
/// answered): 400 with the operator's reason, which is shown to the SCIM client.
pub fn outcome_body(reason: &str) -> serde_json::Value {
    roster_scim::ScimError::new(400, None, format!("rejected by an operator: {reason}")).to_body()
}

/// Record a rejection; `false` if that event was rejected already (the first one stays).
pub fn insert(conn: &mut PgConnection, rejection: &OperatorRejection) -> QueryResult<bool> {
    diesel::insert_into(operator_rejections::table)
        .values(rejection)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|rows| rows == 1)
}
