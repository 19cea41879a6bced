use thiserror::Error;

/// Everything that can go wrong talking to Postgres.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    /// A lookup connection could not be had ([`crate::lookup`]): none free in time, or none
    /// could be made.
    #[error("no database connection available: {0}")]
    LookupPool(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("could not connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database task was cancelled or panicked: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// True when the error says a unique index rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// What the failure means for a retry: transient, a data error, or unknown.
    pub fn failure(&self) -> crate::sqlstate::Failure {
        crate::sqlstate::classify_store(self)
    }
}
