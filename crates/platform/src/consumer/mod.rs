//! The change-log consume loop shared by the projector and the role-mapper. It runs on a
//! dedicated thread (everything in it blocks: librdkafka polls, diesel), and keeps its positions
//! in Postgres, beside the data it writes:
//!
//! - on partition assignment it seeks to the offsets stored in Postgres, after checking that
//!   the log is the one they were taken from (see [`ConsumerError::LogBehind`] and friends);
//! - it gathers a batch (up to `max_batch` events, lingering `linger` for more) and lets the
//!   [`BatchHandler`] prepare it outside any transaction (the role-mapper waits there for the
//!   projector);
//! - in one transaction it locks each partition's stored position, skips events already
//!   applied, hands the rest to the handler, and stores the new positions; a failed transaction
//!   is retried with backoff, never skipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::Connection;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use roster_events::{DecodeError, DecodedChange};
use roster_store::offsets::{self, Position};
use roster_store::{PgConnection, PgPool, StoreError};
use uuid::Uuid;

pub use crate::consumer_error::ConsumerError;
use crate::shutdown::Shutdown;

/// How a consumer is set up.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    pub topic: String,
    pub max_batch: usize,
    pub linger: Duration,
}

/// What a consumer does with its batches.
pub trait BatchHandler {
    /// Runs before a batch's transaction, outside it, and may block (the role-mapper waits here
    /// for the projector to pass the batch). `Ok(false)`: shutting down, stop without applying.
    /// An error fails the attempt, which is retried.
    fn prepare(&mut self, _batch: &[Record], _shutdown: &Shutdown) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Inside the batch's transaction: apply `records`, the events of the batch not applied
    /// yet, in log order within each partition. An error rolls the transaction back and the
    /// batch is retried.
    fn apply(&mut self, conn: &mut PgConnection, records: &[&Record]) -> Result<(), StoreError>;

    /// After the batch's transaction committed.
    fn committed(&mut self) {}
}

/// Counters of what this process did, for tests and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events applied (handed to the handler and committed), by this process.
    pub events_applied: AtomicU64,
    /// Events delivered again after they had been applied, and skipped.
    pub events_skipped: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
}

/// One message, decoded once. An undecodable event (not protobuf, or ids that are not UUIDs)
/// is poison: it can never be applied by any version, and handlers skip it.
#[derive(Debug)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub event: Result<DecodedChange, DecodeError>,
}

/// Callbacks librdkafka runs inside `poll`: rebalances.
pub struct LogContext {
    pool: PgPool,
    options: ConsumerOptions,
    /// Set when an assignment shows a log that does not match Postgres.
    fatal: Mutex<Option<ConsumerError>>,
    /// Partitions assigned one event before their stored position, with the event id that must
    /// be found there.
    verify: Mutex<HashMap<i32, (i64, Uuid)>>,
}

impl ClientContext for LogContext {}

impl ConsumerContext for LogContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let result = self.seek_positions(consumer, tpl);
                let assignment = match result {
                    Ok(()) => tpl.clone(),
                    Err(error) => {
                        tracing::error!(%error, "refusing the partition assignment");
                        *lock(&self.fatal) = Some(error);
                        TopicPartitionList::new()
                    }
                };
                let partitions: Vec<i32> =
                    assignment.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(kafka.partitions = ?partitions, "partitions assigned");
                if let Err(error) = consumer.assign(&assignment) {
                    tracing::error!(%error, "could not take the partition assignment");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!("partitions revoked");
                lock(&self.verify).clear();
                if let Err(error) = consumer.unassign() {
                    tracing::warn!(%error, "could not drop the partition assignment");
                }
            }
            other => tracing::error!(error = ?other, "rebalance failed"),
        }
    }
}

impl LogContext {
    /// Set each assigned partition's start offset from Postgres, checking the log against it.
    fn seek_positions(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), ConsumerError> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let stored: HashMap<i32, Position> =
            offsets::load(&mut conn, &self.options.group, &self.options.topic)
                .map_err(StoreError::from)?
                .into_iter()
                .map(|p| (p.partition, p))
                .collect();
        let mut verify = lock(&self.verify);
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        for partition in partitions {
            let (log_start, log_end) = consumer.fetch_watermarks(
                &self.options.topic,
                partition,
                Duration::from_secs(10),
            )?;
            let offset = match stored.get(&partition) {
                None => Offset::Beginning,
                Some(position) => {
                    let next = position.next_offset;
                    if next > log_end {
                        return Err(ConsumerError::LogBehind { partition, stored: next, log_end });
                    }
                    if next < log_start {
                        return Err(ConsumerError::LogTruncated {
                            partition,
                            stored: next,
                            log_start,
                        });
                    }
                    match position.last_event_id {
                        // Re-read the last applied event to prove this is the same log.
                        Some(id) if next > log_start => {
                            verify.insert(partition, (next - 1, id));
                            Offset::Offset(next - 1)
                        }
                        _ => Offset::Offset(next),
                    }
                }
            };
            tracing::info!(kafka.partition = partition, kafka.offset = ?offset, log_start, log_end, "seeking to the position stored in Postgres");
            tpl.set_partition_offset(&self.options.topic, partition, offset)?;
        }
        Ok(())
    }

    /// Sort out a message before it joins a batch: the verification read of a freshly assigned
    /// partition is checked and dropped; an event of a change type this version does not know
    /// stops the consumer (it must not be skipped); everything else is kept.
    fn admit(&self, record: &Record) -> Result<bool, ConsumerError> {
        if matches!(record.event, Err(DecodeError::NoChange)) {
            return Err(ConsumerError::UnknownChange {
                partition: record.partition,
                offset: record.offset,
            });
        }
        let mut verify = lock(&self.verify);
        let Some(&(offset, expected)) = verify.get(&record.partition) else {
            return Ok(true);
        };
        let found = record.event.as_ref().map(|d| d.event_id).ok();
        if record.offset != offset || found != Some(expected) {
            return Err(ConsumerError::LogMismatch {
                partition: record.partition,
                offset,
                expected: expected.to_string(),
                found: match (record.offset == offset, found) {
                    (true, Some(id)) => id.to_string(),
                    (true, None) => "an undecodable event".to_string(),
                    (false, _) => {
                        format!("missing (the next event is at offset {})", record.offset)
                    }
                },
            });
        }
        verify.remove(&record.partition);
        Ok(false)
    }
}

/// Run until `shutdown` (Ok) or a fatal condition (Err). Blocks: call on a dedicated thread.
pub fn run<H: BatchHandler>(
    brokers_config: rdkafka::ClientConfig,
    pool: PgPool,
    options: ConsumerOptions,
    handler: &mut H,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> Result<(), ConsumerError> {
    let context = LogContext {
        pool: pool.clone(),
        options: options.clone(),
        fatal: Mutex::new(None),
        verify: Mutex::new(HashMap::new()),
    };
    let consumer: BaseConsumer<LogContext> = brokers_config.create_with_context(context)?;
    consumer.subscribe(&[&options.topic])?;
    tracing::info!(kafka.topic = %options.topic, kafka.group = %options.group, "consuming the change log");

    let mut batch: Vec<Record> = Vec::with_capacity(options.max_batch);
    while !shutdown.is_triggered() {
        batch.clear();
        gather(&consumer, &options, &mut batch)?;
        if let Some(error) = lock(&consumer.context().fatal).take() {
            return Err(error);
        }
        if batch.is_empty() {
            continue;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = match handler.prepare(&batch, &shutdown) {
                Ok(false) => return Ok(()),
                Ok(true) => apply_batch(&pool, &options, handler, &batch),
                Err(error) => Err(error),
            };
            match attempt {
                Ok(applied) => {
                    handler.committed();
                    stats.events_applied.fetch_add(applied as u64, Ordering::Relaxed);
                    stats
                        .events_skipped
                        .fetch_add((batch.len() - applied) as u64, Ordering::Relaxed);
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(events = applied, "batch committed");
                    break;
                }
                Err(error) => {
                    // Transient (Postgres down, serialisation…): the batch is retried, never
                    // skipped; its offsets were not stored.
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "batch failed; retrying");
                    if shutdown.is_triggered() {
                        return Ok(());
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    tracing::info!(kafka.group = %options.group, "consumer stopped");
    Ok(())
}

/// Fill `batch`: wait up to 100 ms for a first message, then up to `linger` for more.
fn gather(
    consumer: &BaseConsumer<LogContext>,
    options: &ConsumerOptions,
    batch: &mut Vec<Record>,
) -> Result<(), ConsumerError> {
    let mut deadline: Option<Instant> = None;
    while batch.len() < options.max_batch {
        let timeout = match deadline {
            None => Duration::from_millis(100),
            Some(d) => d.saturating_duration_since(Instant::now()),
        };
        match consumer.poll(timeout) {
            None => break,
            Some(Err(KafkaError::PartitionEOF(_))) => continue,
            Some(Err(error)) => {
                tracing::warn!(%error, "kafka poll failed");
                break;
            }
            Some(Ok(message)) => {
                let record = Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    event: roster_events::decode(message.payload().unwrap_or_default()),
                };
                if consumer.context().admit(&record)? {
                    batch.push(record);
                }
                deadline.get_or_insert_with(|| Instant::now() + options.linger);
            }
        }
        if lock(&consumer.context().fatal).is_some() {
            break;
        }
    }
    Ok(())
}

/// Apply a batch in one transaction. Returns how many events were applied (not skipped as
/// applied already; an undecodable event counts as applied: its position is consumed).
fn apply_batch<H: BatchHandler>(
    pool: &PgPool,
    options: &ConsumerOptions,
    handler: &mut H,
    batch: &[Record],
) -> Result<usize, StoreError> {
    let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for record in batch {
        by_partition.entry(record.partition).or_default().push(record);
    }
    let mut conn = pool.get()?;
    let conn: &mut PgConnection = &mut conn;
    conn.transaction(|conn| {
        let mut pending: Vec<&Record> = Vec::with_capacity(batch.len());
        let mut positions = Vec::with_capacity(by_partition.len());
        for (partition, records) in by_partition {
            let stored = offsets::lock(conn, &options.group, &options.topic, partition)?;
            let mut next = stored.map(|p| p.next_offset);
            let mut last_event_id = stored.and_then(|p| p.last_event_id);
            for record in records {
                if next.is_some_and(|n| record.offset < n) {
                    continue; // applied already (by us before a rebalance, or by another member)
                }
                if let Some(n) = next
                    && record.offset > n
                {
                    tracing::warn!(
                        kafka.partition = partition,
                        expected = n,
                        found = record.offset,
                        "gap in the log's offsets"
                    );
                }
                pending.push(record);
                last_event_id = record.event.as_ref().ok().map(|e| e.event_id);
                next = Some(record.offset + 1);
            }
            if let Some(next_offset) = next {
                positions.push(Position { partition, next_offset, last_event_id });
            }
        }
        handler.apply(conn, &pending)?;
        for position in positions {
            offsets::store(conn, &options.group, &options.topic, position)?;
        }
        Ok(pending.len())
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
