//! The relay: publishes the outbox to `roster.notifications.v1` in `position` order (sequence
//! order within a directory), then marks the rows published.
//!
//! One relay publishes at a time, whatever the number of role-mapper replicas: it holds a
//! Postgres advisory lock on a connection of its own, and the others wait for it. Records are
//! handed to the idempotent producer in order and acknowledged with `acks=all`; if one fails,
//! only the ones before it are marked published, so the rest go again, in order. Delivery is
//! therefore at least once, and consumers deduplicate on `(directory_id, sequence)`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::Connection;
use diesel::sql_types::{BigInt, Bool};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use roster_events::notification;
use roster_platform::Shutdown;
use roster_store::StoreError;
use roster_store::outbox::{self, Unpublished};
use tokio::sync::Notify;

/// The advisory lock key of the relay (`roster.relay` as a number).
const RELAY_LOCK: i64 = 0x726f_7374_6572_7231;

#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub database_url: String,
    pub topic: String,
    /// How often to look for unpublished rows when nothing woke the relay.
    pub poll: Duration,
    /// Most rows published before they are marked.
    pub batch: usize,
}

/// Counters, for tests and metrics.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub published: std::sync::atomic::AtomicU64,
}

/// Publish until `shutdown`. Postgres or Kafka failures are retried with backoff.
pub async fn run(
    producer: FutureProducer,
    options: RelayOptions,
    wake: Arc<Notify>,
    stats: Arc<RelayStats>,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match lead(&producer, &options, &wake, &stats, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "relay failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.wait() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("postgres: {0}")]
    Store(#[from] StoreError),
    #[error("postgres: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("postgres: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

type Session = Arc<Mutex<PgConnection>>;

/// Run `work` on the relay's own connection, on the blocking pool.
async fn on_session<T, F>(session: &Session, work: F) -> Result<T, RelayError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, RelayError> + Send + 'static,
{
    let session = session.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut conn)
    })
    .await
    .map_err(|e| RelayError::Store(StoreError::from(e)))?
}

/// Take the relay lock (waiting for another replica to let go), then publish.
async fn lead(
    producer: &FutureProducer,
    options: &RelayOptions,
    wake: &Notify,
    stats: &RelayStats,
    shutdown: &Shutdown,
) -> Result<(), RelayError> {
    let url = options.database_url.clone();
    let session: Session = Arc::new(Mutex::new(
        tokio::task::spawn_blocking(move || PgConnection::establish(&url))
            .await
            .map_err(|e| RelayError::Store(StoreError::from(e)))??,
    ));
    loop {
        let locked = on_session(&session, |conn| {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = Bool)]
                locked: bool,
            }
            let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind::<BigInt, _>(RELAY_LOCK)
                .get_result(conn)?;
            Ok(row.locked)
        })
        .await?;
        if locked {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.wait() => return Ok(()),
        }
    }
    tracing::info!("relay publishing the outbox");
    while !shutdown.is_triggered() {
        // Register for a wake-up before looking, so that a commit in between is not missed.
        let woken = wake.notified();
        let limit = options.batch as i64;
        let rows = on_session(&session, move |conn| Ok(outbox::unpublished(conn, limit)?)).await?;
        if rows.is_empty() {
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(options.poll) => {}
                () = shutdown.wait() => {}
            }
            continue;
        }
        let published = publish(producer, &options.topic, &rows).await;
        let count = published.len();
        if count > 0 {
            on_session(&session, move |conn| Ok(outbox::mark_published(conn, &published)?)).await?;
            stats.published.fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        }
        if count < rows.len() {
            // The broker refused or timed out: give it a moment before sending the rest again.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = shutdown.wait() => {}
            }
        }
    }
    Ok(())
}

/// Publish rows in order; returns the positions of the leading rows the broker acknowledged.
async fn publish(producer: &FutureProducer, topic: &str, rows: &[Unpublished]) -> Vec<i64> {
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in rows {
        let key = row.directory_id.to_string();
        let headers = match notification::decode_notification(&row.payload) {
            Ok(n) => notification::cloudevent_headers(&n).into_iter().fold(
                OwnedHeaders::new(),
                |headers, (name, value)| {
                    headers.insert(Header { key: name, value: Some(value.as_bytes()) })
                },
            ),
            Err(error) => {
                tracing::error!(%error, directory.id = %row.directory_id, sequence = row.sequence, "an outbox payload does not decode; published without headers");
                OwnedHeaders::new()
            }
        };
        let mut record =
            FutureRecord::to(topic).key(key.as_bytes()).payload(&row.payload).headers(headers);
        // Enqueue in order (send_result does not wait); a full queue waits for room.
        let delivery = loop {
            match producer.send_result(record) {
                Ok(delivery) => break Some(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    tracing::warn!(%error, "could not enqueue a notification");
                    break None;
                }
            }
        };
        match delivery {
            Some(delivery) => deliveries.push((row.position, delivery)),
            None => break,
        }
    }
    let mut acknowledged = Vec::with_capacity(deliveries.len());
    let mut failed = false;
    for (position, delivery) in deliveries {
        match delivery.await {
            Ok(Ok(_)) if !failed => acknowledged.push(position),
            Ok(Ok(_)) => {}
            Ok(Err((error, _))) => {
                tracing::warn!(%error, "a notification was not delivered; it will be sent again");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    acknowledged
}
