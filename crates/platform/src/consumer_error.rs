use thiserror::Error;

/// Why a change-log consumer (the projector, the role-mapper) stopped.
#[derive(Debug, Error)]
pub enum ConsumerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("postgres: {0}")]
    Store(#[from] roster_store::StoreError),
    /// Postgres has applied events up to `stored`, but the log ends before that: the broker's log
    /// was reset or replaced. Consuming would skip or re-apply events.
    #[error(
        "partition {partition}: Postgres has applied the log up to offset {stored}, but the log ends at {log_end}; \
         the broker's log was reset or replaced. Refusing to consume: restore the log, or rebuild the database \
         from the log"
    )]
    LogBehind { partition: i32, stored: i64, log_end: i64 },
    /// The events Postgres still needs were deleted from the log (retention) before being applied.
    #[error(
        "partition {partition}: the next event to apply is at offset {stored}, but the log now starts at {log_start}; \
         events were deleted before they were applied. Refusing to consume"
    )]
    LogTruncated { partition: i32, stored: i64, log_start: i64 },
    /// The event at the last applied offset is not the one Postgres recorded: another log.
    #[error(
        "partition {partition}: the event at offset {offset} is {found}, but Postgres recorded {expected} there; \
         this is not the log the projection was built from. Refusing to consume"
    )]
    LogMismatch { partition: i32, offset: i64, expected: String, found: String },
    /// An event this version cannot apply (a change type from a newer gateway). Skipping it
    /// would lose an acknowledged write, so the consumer stops.
    #[error(
        "partition {partition}, offset {offset}: the event states a change this version does not know; \
         upgrade the projector and the role-mapper before the gateway (see deploy/README.md)"
    )]
    UnknownChange { partition: i32, offset: i64 },
    #[error("the consumer's worker thread failed: {0}")]
    Worker(String),
}
