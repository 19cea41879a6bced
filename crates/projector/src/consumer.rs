//! The consume loop. It runs on a dedicated thread (everything in it blocks: librdkafka polls,
//! diesel), and keeps its positions in Postgres:
//!
//! - on partition assignment it seeks to the offsets stored in Postgres, after checking that
//!   the log is the one they were taken from (see [`ProjectorError::LogBehind`] and friends);
//! - it gathers a batch (up to `max_batch` events, lingering `batch_linger_ms` for more);
//! - in one transaction it locks each partition's stored position, skips events already
//!   applied, applies the rest, records their outcomes, stores the new positions and
//!   `NOTIFY`s; a failed transaction is retried with backoff, never skipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::Connection;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use roster_events::{DecodeError, DecodedChange};
use roster_platform::Shutdown;
use roster_store::offsets::{self, Position};
use roster_store::outcomes::{self, OutcomeRow};
use roster_store::{PgConnection, PgPool, StoreError};
use uuid::Uuid;

use crate::apply;
use crate::error::ProjectorError;

/// How a consumer is set up.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    pub topic: String,
    pub max_batch: usize,
    pub linger: Duration,
}

/// Counters of what this process did, for tests and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events applied (an outcome recorded), by this process.
    pub events_applied: AtomicU64,
    /// Events delivered again after they had been applied, and skipped.
    pub events_skipped: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
}

/// One message, decoded once.
#[derive(Debug)]
struct Record {
    partition: i32,
    offset: i64,
    event: Result<DecodedChange, DecodeError>,
}

/// Callbacks librdkafka runs inside `poll`: rebalances.
pub struct ProjectorContext {
    pool: PgPool,
    options: ConsumerOptions,
    /// Set when an assignment shows a log that does not match Postgres.
    fatal: Mutex<Option<ProjectorError>>,
    /// Partitions assigned one event before their stored position, with the event id that must
    /// be found there.
    verify: Mutex<HashMap<i32, (i64, Uuid)>>,
}

impl ClientContext for ProjectorContext {}

impl ConsumerContext for ProjectorContext {
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

impl ProjectorContext {
    /// Set each assigned partition's start offset from Postgres, checking the log against it.
    fn seek_positions(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), ProjectorError> {
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
                        return Err(ProjectorError::LogBehind { partition, stored: next, log_end });
                    }
                    if next < log_start {
                        return Err(ProjectorError::LogTruncated {
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
    /// stops the projector (it must not be skipped); everything else is kept.
    fn admit(&self, record: &Record) -> Result<bool, ProjectorError> {
        if matches!(record.event, Err(DecodeError::NoChange)) {
            return Err(ProjectorError::UnknownChange {
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
            return Err(ProjectorError::LogMismatch {
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
pub fn run(
    brokers_config: rdkafka::ClientConfig,
    pool: PgPool,
    options: ConsumerOptions,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> Result<(), ProjectorError> {
    let context = ProjectorContext {
        pool: pool.clone(),
        options: options.clone(),
        fatal: Mutex::new(None),
        verify: Mutex::new(HashMap::new()),
    };
    let consumer: BaseConsumer<ProjectorContext> = brokers_config.create_with_context(context)?;
    consumer.subscribe(&[&options.topic])?;
    tracing::info!(kafka.topic = %options.topic, kafka.group = %options.group, "projector consuming");

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
            match apply_batch(&pool, &options, &batch) {
                Ok(applied) => {
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
    tracing::info!("projector stopped");
    Ok(())
}

/// Fill `batch`: wait up to 100 ms for a first message, then up to `linger` for more.
fn gather(
    consumer: &BaseConsumer<ProjectorContext>,
    options: &ConsumerOptions,
    batch: &mut Vec<Record>,
) -> Result<(), ProjectorError> {
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

/// Apply a batch in one transaction. Returns how many events were applied (not skipped;
/// an undecodable event counts as applied: its position is consumed).
fn apply_batch(
    pool: &PgPool,
    options: &ConsumerOptions,
    batch: &[Record],
) -> Result<usize, StoreError> {
    let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for record in batch {
        by_partition.entry(record.partition).or_default().push(record);
    }
    let mut conn = pool.get()?;
    let conn: &mut PgConnection = &mut conn;
    conn.transaction(|conn| {
        let mut outcome_rows = Vec::with_capacity(batch.len());
        let mut consumed = 0;
        let mut cache = apply::BatchCache::default();
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
                last_event_id = apply_record(conn, &mut cache, record, &mut outcome_rows)?;
                next = Some(record.offset + 1);
                consumed += 1;
            }
            if let Some(next_offset) = next {
                offsets::store(
                    conn,
                    &options.group,
                    &options.topic,
                    Position { partition, next_offset, last_event_id },
                )?;
            }
        }
        outcomes::insert_all(conn, &outcome_rows)?;
        let ids: Vec<Uuid> = outcome_rows.iter().map(|o| o.event_id).collect();
        outcomes::notify(conn, &ids)?;
        Ok(consumed)
    })
}

/// Apply one record; returns its event id (None for an undecodable one).
fn apply_record(
    conn: &mut PgConnection,
    cache: &mut apply::BatchCache,
    record: &Record,
    outcomes: &mut Vec<OutcomeRow>,
) -> Result<Option<Uuid>, StoreError> {
    let event = match &record.event {
        Ok(event) => event,
        Err(error) => {
            // Poison (not protobuf, or ids that are not UUIDs): it can never be applied, by any
            // version. Recorded in the log and skipped.
            tracing::error!(kafka.partition = record.partition, kafka.offset = record.offset, %error, "undecodable change event skipped");
            return Ok(None);
        }
    };
    let span = tracing::debug_span!("apply", event.id = %event.event_id, directory.id = %event.directory_id);
    let _entered = span.enter();
    let decision = apply::apply(conn, cache, event)?;
    outcomes.push(OutcomeRow {
        event_id: event.event_id,
        directory_id: event.directory_id,
        kafka_partition: record.partition,
        kafka_offset: record.offset,
        status: decision.status as i16,
        resource_id: decision.resource_id,
        body: decision.body,
        applied_at: Utc::now(),
    });
    Ok(Some(event.event_id))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
