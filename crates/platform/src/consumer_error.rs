use thiserror::Error;

/// Why a change-log consumer (the projector, the role-mapper) stopped. Failures of a batch are
/// not among them: those stop one partition, visibly, and are retried (see
/// [`crate::consumer`]); these stop the process, because going on would skip or re-apply
/// events everywhere.
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
         from the log{hint}"
    )]
    LogBehind { partition: i32, stored: i64, log_end: i64, hint: ResetHint },
    /// The events Postgres still needs were deleted from the log (retention) before being applied.
    #[error(
        "partition {partition}: the next event to apply is at offset {stored}, but the log now starts at {log_start}; \
         events were deleted before they were applied. Refusing to consume{hint}"
    )]
    LogTruncated { partition: i32, stored: i64, log_start: i64, hint: ResetHint },
    /// The event at the last applied offset is not the one Postgres recorded: another log.
    #[error(
        "partition {partition}: the event at offset {offset} is {found}, but Postgres recorded {expected} there; \
         this is not the log the projection was built from. Refusing to consume{hint}"
    )]
    LogMismatch { partition: i32, offset: i64, expected: String, found: String, hint: ResetHint },
    #[error("the consumer's worker thread failed: {0}")]
    Worker(String),
}

/// The end of a log-fence message: on a development stack (a database on this machine), the
/// command that starts over with an empty database and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetHint {
    pub local_stack: bool,
}

impl std::fmt::Display for ResetHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.local_stack {
            f.write_str(
                ". This is a development stack (the database is on this machine): `make reset` \
                 starts over with an empty database and an empty log",
            )
        } else {
            Ok(())
        }
    }
}
