//! One attempt at a partition's batch: one transaction that locks the partition's stored
//! position, moves past what was applied already or rejected by an operator, applies the rest
//! and stores the new position.
//!
//! It applies either the whole batch at once (the fast path), or event by event, each in its
//! own savepoint (after the batch failed with a data error or a failure not understood): an
//! event Postgres refuses is rolled back alone and handed to [`BatchHandler::refuse`], the
//! others apply; an event that fails otherwise stops the partition there, with the events
//! before it committed.

use std::collections::HashSet;

use diesel::Connection;
use roster_store::sqlstate::Failure;
use roster_store::{PgConnection, StoreError, offsets, rejections};

use super::{BatchHandler, ConsumerOptions, Record};

/// How to apply the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// All pending events in one call of [`BatchHandler::apply`].
    Batch,
    /// One event at a time, each in a savepoint.
    EventByEvent,
}

/// Why a partition stopped at an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stop {
    /// The event states a change this version does not know.
    UnknownChange,
    /// Applying it failed in a way that is neither an outage nor a data error, or Postgres
    /// refused it and recording the refusal failed too.
    Failed(String),
}

/// What an attempt did. `consumed` leading records of the batch are done with (applied,
/// refused, skipped as applied already, or rejected by an operator); if `stop` is set, the
/// record after them could not be applied and the partition waits there.
#[derive(Debug, Default)]
pub(super) struct Attempt {
    pub consumed: usize,
    pub applied: usize,
    pub skipped: usize,
    pub refused: usize,
    pub operator_rejected: usize,
    pub stop: Option<Stop>,
    /// The batch ended at a gap: the records fetched skip from this offset (the next one to
    /// apply) to a later one. The change topic has no transactions and no compaction, so a gap
    /// means records were not delivered, not that they do not exist: the loop fetches again
    /// from here.
    pub gap: Option<i64>,
}

/// Apply `batch` (records of `partition`, in offset order) in one transaction. A gap in the
/// offsets ends the batch before it ([`Attempt::gap`]), unless it is `accept_gap`: one
/// fetched again often enough to be a hole in the log itself.
pub(super) fn attempt<H: BatchHandler>(
    conn: &mut PgConnection,
    options: &ConsumerOptions,
    handler: &mut H,
    partition: i32,
    batch: &[Record],
    mode: Mode,
    accept_gap: Option<i64>,
) -> Result<Attempt, StoreError> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(Attempt::default());
    };
    conn.transaction(|conn| {
        let stored = offsets::lock(conn, &options.group, &options.topic, partition)?;
        let mut next = stored.map(|p| p.next_offset);
        let mut last_event_id = stored.and_then(|p| p.last_event_id);
        let rejected: HashSet<i64> =
            rejections::offsets_in(conn, &options.topic, partition, first.offset, last.offset)?
                .into_iter()
                .collect();
        let mut attempt = Attempt::default();
        let mut pending: Vec<&Record> = Vec::with_capacity(batch.len());
        let mut moved = false;
        for record in batch {
            if next.is_some_and(|n| record.offset < n) {
                // Applied already (by us before a rebalance, or by another member).
                attempt.skipped += 1;
                attempt.consumed += 1;
                continue;
            }
            if let Some(n) = next
                && record.offset > n
            {
                if accept_gap != Some(n) {
                    attempt.gap = Some(n);
                    break;
                }
                tracing::warn!(
                    kafka.partition = partition,
                    expected = n,
                    found = record.offset,
                    "gap in the log's offsets, still there after fetching again: moving past it"
                );
            }
            if rejected.contains(&record.offset) {
                tracing::info!(kafka.partition = partition, kafka.offset = record.offset, event.id = ?record.event_id(), "moving past an event an operator rejected");
                attempt.operator_rejected += 1;
            } else if record.is_unknown_change() {
                attempt.stop = Some(Stop::UnknownChange);
                break;
            } else if mode == Mode::Batch {
                pending.push(record);
                attempt.applied += 1;
            } else {
                match apply_one(conn, handler, record)? {
                    One::Applied => attempt.applied += 1,
                    One::Refused => attempt.refused += 1,
                    One::Stopped(reason) => {
                        attempt.stop = Some(Stop::Failed(reason));
                        break;
                    }
                }
            }
            next = Some(record.offset + 1);
            last_event_id = record.event_id();
            moved = true;
            attempt.consumed += 1;
        }
        if !pending.is_empty() {
            handler.apply(conn, &pending)?;
        }
        if let (true, Some(next_offset)) = (moved, next) {
            let position = offsets::Position { partition, next_offset, last_event_id };
            offsets::store(conn, &options.group, &options.topic, position)?;
        }
        Ok(attempt)
    })
}

enum One {
    Applied,
    Refused,
    Stopped(String),
}

/// Apply one record in its own savepoint. An outage fails the whole attempt (`Err`).
fn apply_one<H: BatchHandler>(
    conn: &mut PgConnection,
    handler: &mut H,
    record: &Record,
) -> Result<One, StoreError> {
    let error = match conn.transaction(|conn| handler.apply(conn, &[record])) {
        Ok(()) => return Ok(One::Applied),
        Err(error) => error,
    };
    match error.failure() {
        Failure::Transient => Err(error),
        Failure::Unknown => Ok(One::Stopped(error.to_string())),
        Failure::Data(state) => {
            tracing::warn!(
                kafka.partition = record.partition,
                kafka.offset = record.offset,
                event.id = ?record.event_id(),
                sqlstate = %state,
                "Postgres refused the event's data; it is rejected and the partition goes on"
            );
            match conn.transaction(|conn| handler.refuse(conn, record, &error)) {
                Ok(()) => Ok(One::Refused),
                Err(refusal) if refusal.failure() == Failure::Transient => Err(refusal),
                Err(refusal) => Ok(One::Stopped(format!(
                    "Postgres refused the event's data ({state}: {error}), and recording that failed: {refusal}"
                ))),
            }
        }
    }
}
