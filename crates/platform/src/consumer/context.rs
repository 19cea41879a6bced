//! What librdkafka runs inside `poll` (rebalances), and the checks of a freshly assigned
//! partition against Postgres (the log fence).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use diesel::Connection;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use roster_store::offsets::{self, Position};
use roster_store::{PgConnection, StoreError};
use uuid::Uuid;

use super::{ConsumerOptions, Record, lock};
use crate::Shutdown;
use crate::consumer_error::{ConsumerError, ResetHint};

/// Callbacks librdkafka runs inside `poll`: rebalances.
pub struct LogContext {
    pub(super) options: ConsumerOptions,
    pub(super) shutdown: Shutdown,
    /// Set when an assignment shows a log that does not match Postgres.
    pub(super) fatal: Mutex<Option<ConsumerError>>,
    /// Partitions assigned one event before their stored position, with the event id that must
    /// be found there.
    verify: Mutex<HashMap<i32, (i64, Uuid)>>,
    /// The partitions assigned now.
    pub(super) assigned: Mutex<Vec<i32>>,
    /// Bumped at every assignment and revocation: what the loop holds of an older one is stale.
    pub(super) generation: AtomicU64,
    /// Each partition's log end (high watermark), from librdkafka's statistics.
    pub(super) log_ends: Mutex<HashMap<i32, i64>>,
}

impl LogContext {
    pub(super) fn new(options: ConsumerOptions, shutdown: Shutdown) -> LogContext {
        LogContext {
            options,
            shutdown,
            fatal: Mutex::new(None),
            verify: Mutex::new(HashMap::new()),
            log_ends: Mutex::new(HashMap::new()),
            assigned: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether a freshly assigned partition's verification read is still to come.
    pub(super) fn verifying(&self) -> bool {
        !lock(&self.verify).is_empty()
    }

    fn hint(&self) -> ResetHint {
        ResetHint { local_stack: self.options.local_stack }
    }
}

impl ClientContext for LogContext {
    /// librdkafka's statistics (every [`STATISTICS_INTERVAL_MS`]): the log end of each
    /// partition, for the lag gauges.
    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(topic) = statistics.topics.get(&self.options.topic) {
            let mut ends = lock(&self.log_ends);
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.hi_offset >= 0 {
                    ends.insert(*partition, stats.hi_offset);
                }
            }
        }
    }
}

/// How often librdkafka reports its statistics (the log ends the lag gauges need).
pub(super) const STATISTICS_INTERVAL_MS: &str = "5000";

impl ConsumerContext for LogContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.generation.fetch_add(1, Ordering::SeqCst);
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
                *lock(&self.assigned) = partitions;
                if let Err(error) = consumer.assign(&assignment) {
                    tracing::error!(%error, "could not take the partition assignment");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!("partitions revoked");
                lock(&self.verify).clear();
                lock(&self.assigned).clear();
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
    /// Postgres or the broker out of reach is retried here (the assignment waits) with backoff,
    /// until shutdown; only a log that does not match is an error.
    fn seek_positions(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), ConsumerError> {
        let mut backoff = self.options.backoff();
        loop {
            match self.try_seek_positions(consumer, tpl) {
                Ok(()) => return Ok(()),
                Err(error @ (ConsumerError::Store(_) | ConsumerError::Kafka(_)))
                    if !self.shutdown.is_triggered() =>
                {
                    let delay = backoff.next().unwrap_or(self.options.retry_max);
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "could not read the stored positions; retrying");
                    std::thread::sleep(delay);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn try_seek_positions(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), ConsumerError> {
        let mut conn =
            PgConnection::establish(&self.options.database_url).map_err(StoreError::from)?;
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
            let hint = self.hint();
            let offset = match stored.get(&partition) {
                None => Offset::Beginning,
                Some(position) => {
                    let next = position.next_offset;
                    if next > log_end {
                        return Err(ConsumerError::LogBehind {
                            partition,
                            stored: next,
                            log_end,
                            hint,
                        });
                    }
                    if next < log_start {
                        return Err(ConsumerError::LogTruncated {
                            partition,
                            stored: next,
                            log_start,
                            hint,
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
    /// partition is checked and dropped (`Ok(false)`); everything else is kept.
    pub(super) fn admit(&self, record: &Record) -> Result<bool, ConsumerError> {
        let mut verify = lock(&self.verify);
        let Some(&(offset, expected)) = verify.get(&record.partition) else {
            return Ok(true);
        };
        let found = record.event_id();
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
                hint: self.hint(),
            });
        }
        verify.remove(&record.partition);
        Ok(false)
    }
}

impl ConsumerOptions {
    /// The retry delays of a failing partition: capped, jittered, exponential.
    pub(super) fn backoff(&self) -> backon::ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.retry_initial)
            .with_max_delay(self.retry_max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }
}
