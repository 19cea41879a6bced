//! The relay: publishes the outbox to `roster.notifications.v1` in `position` order (sequence
//! order within a directory), then marks the rows published.
//!
//! One relay publishes at a time, whatever the number of role-mapper replicas: it holds a
//! Postgres advisory lock on a connection of its own, and the others wait for it. Records are
//! handed to the idempotent producer in order and acknowledged with `acks=all`. **Directories
//! are independent**: when a directory's record fails, only that directory's records before it
//! are marked published, its later ones are not sent in that round, and the directory is held
//! back (retried with capped, jittered backoff) while every other directory's notifications go
//! on. Delivery is therefore at least once, in order per directory, and consumers deduplicate on
//! `(directory_id, sequence)`. A record the producer or broker refuses as too large is replaced,
//! in the outbox too, by its bounded form ([`notification::bounded`]) and sent again: the
//! sequence keeps no gap.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::Connection;
use diesel::sql_types::{BigInt, Bool};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use roster_events::notification;
use roster_platform::Shutdown;
use roster_platform::health::{ComponentHealth, Health};
use roster_store::listen::Listener;
use roster_store::lookup::LookupConnector;
use roster_store::outbox::{self, Unpublished};
use roster_store::{PoolOptions, StoreError};
use tokio::sync::Notify;
use uuid::Uuid;

/// The advisory lock key of the relay (`roster.relay` as a number).
const RELAY_LOCK: i64 = 0x726f_7374_6572_7231;

/// How often the relay counts the notifications waiting (`roster_outbox_backlog_notifications`).
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub database_url: String,
    pub topic: String,
    /// How often to look for unpublished rows when nothing woke the relay.
    pub poll: Duration,
    /// Most rows published before they are marked.
    pub batch: usize,
    /// Retries of a directory held back after a failure: first and longest delay (before
    /// jitter); held back longer than `stuck_after`, it makes the role-mapper unready.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub stuck_after: Duration,
    /// The largest notification the producer sends (see `ReconcileOptions`).
    pub max_notification_bytes: usize,
}

/// Counters, for tests and metrics.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub published: std::sync::atomic::AtomicU64,
    /// Notifications replaced by their bounded form because they were too large.
    pub bounded: std::sync::atomic::AtomicU64,
    /// Times a directory was held back after a failure.
    pub held: std::sync::atomic::AtomicU64,
}

/// Publish until `shutdown`. Postgres or Kafka failures are retried with backoff.
pub async fn run(
    producer: FutureProducer,
    options: RelayOptions,
    wake: Arc<Notify>,
    stats: Arc<RelayStats>,
    health: Arc<Health>,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match lead(&producer, &options, &wake, &stats, &health, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "relay failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.wait() => return,
                }
                backoff = (backoff * 2).min(options.retry_max);
            }
        }
    }
}

/// Wake the relay when any replica appends to the outbox (the `NOTIFY` on
/// [`outbox::APPENDED_CHANNEL`] that comes with each append), until `shutdown`.
///
/// Only one replica's relay publishes, and its own reconciler wakes it in process; the other
/// replicas' notifications used to wait for its next poll (`relay_poll_ms`, 2 s): with two
/// replicas the notification lag's median was 1.1 s instead of 52 ms (docs/benchmarks.md).
/// This is a hint, as the poll stays: a lost connection is made again with backoff, and the
/// relay looks once after each connection, for what was appended while nobody listened.
pub async fn listen_for_appends(
    database_url: String,
    wake: Arc<Notify>,
    retry_max: Duration,
    shutdown: Shutdown,
) {
    let connector = match LookupConnector::new(&database_url, PoolOptions::default()) {
        Ok(connector) => connector,
        Err(error) => {
            tracing::error!(%error, "the relay cannot listen for appends; it polls only");
            return;
        }
    };
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let listened = tokio::select! {
            listened = forward_appends(&connector, &wake) => listened,
            () = shutdown.wait() => return,
        };
        let Err((error, connected)) = listened else { return };
        if connected {
            backoff = Duration::from_millis(100);
        }
        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "the relay's listener lost its connection; the relay polls meanwhile");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.wait() => return,
        }
        backoff = (backoff * 2).min(retry_max);
    }
}

/// Listen and wake the relay on each append until the connection fails (and whether it had
/// been made).
async fn forward_appends(
    connector: &LookupConnector,
    wake: &Notify,
) -> Result<(), (StoreError, bool)> {
    let mut listener = Listener::start(connector, &[outbox::APPENDED_CHANNEL])
        .await
        .map_err(|error| (error, false))?;
    wake.notify_one();
    loop {
        listener.next().await.map_err(|error| (error, true))?;
        wake.notify_one();
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

/// A directory whose notifications are held back after a failure.
struct Held {
    since: Instant,
    until: Instant,
    attempts: u32,
    sequence: i64,
    reason: String,
    backoff: backon::ExponentialBackoff,
    error_logged: bool,
}

/// Take the relay lock (waiting for another replica to let go), then publish.
async fn lead(
    producer: &FutureProducer,
    options: &RelayOptions,
    wake: &Notify,
    stats: &RelayStats,
    health: &Health,
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
    let mut held: HashMap<Uuid, Held> = HashMap::new();
    let mut backlog_measured: Option<Instant> = None;
    while !shutdown.is_triggered() {
        // Register for a wake-up before looking, so that a commit in between is not missed.
        let woken = wake.notified();
        let now = Instant::now();
        let excluded: Vec<Uuid> =
            held.iter().filter(|(_, h)| h.until > now).map(|(id, _)| *id).collect();
        report(health, options, &held, now);
        let limit = options.batch as i64;
        let rows =
            on_session(&session, move |conn| Ok(outbox::unpublished(conn, limit, &excluded)?))
                .await?;
        if backlog_measured.is_none_or(|at| now.duration_since(at) >= BACKLOG_EVERY) {
            backlog_measured = Some(now);
            let backlog = on_session(&session, |conn| Ok(outbox::backlog(conn)?)).await?;
            metrics::gauge!("roster_outbox_backlog_notifications").set(backlog as f64);
        }
        if rows.is_empty() {
            let next_retry = held.values().map(|h| h.until).min();
            let wait = next_retry
                .map_or(options.poll, |at| at.saturating_duration_since(now).min(options.poll));
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => {}
            }
            continue;
        }
        let round = publish(producer, &options.topic, &rows).await;
        let count = round.acknowledged.len();
        if count > 0 {
            let published = round.acknowledged;
            let at = chrono::Utc::now();
            for row in rows.iter().filter(|r| published.contains(&r.position)) {
                let latency = (at - row.created_at).to_std().unwrap_or_default();
                metrics::histogram!("roster_relay_latency_seconds").record(latency);
            }
            on_session(&session, move |conn| Ok(outbox::mark_published(conn, &published)?)).await?;
            stats.published.fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let now = Instant::now();
        for directory in rows.iter().map(|r| r.directory_id) {
            if !round.failed.contains_key(&directory)
                && let Some(h) = held.remove(&directory)
            {
                tracing::info!(directory.id = %directory, attempts = h.attempts, held_ms = now.duration_since(h.since).as_millis() as u64, "a held-back directory's notifications are published again");
            }
        }
        for (directory, failure) in round.failed {
            let Some(row) = rows.iter().find(|r| r.position == failure.position) else { continue };
            if failure.too_large()
                && let Some(bounded) = bounded_payload(row, options.max_notification_bytes)
            {
                tracing::warn!(directory.id = %directory, sequence = row.sequence, error = %failure.error, "a notification was too large to publish; sending its bounded form");
                let position = row.position;
                on_session(&session, move |conn| {
                    Ok(outbox::replace_payload(conn, position, &bounded)?)
                })
                .await?;
                stats.bounded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            stats.held.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            hold(&mut held, options, directory, row.sequence, &failure.error, now);
        }
    }
    Ok(())
}

/// Hold a directory back after a failure: it is retried after a backoff, the others go on.
fn hold(
    held: &mut HashMap<Uuid, Held>,
    options: &RelayOptions,
    directory: Uuid,
    sequence: i64,
    error: &KafkaError,
    now: Instant,
) {
    let h = held.entry(directory).or_insert_with(|| Held {
        since: now,
        until: now,
        attempts: 0,
        sequence,
        reason: String::new(),
        backoff: backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(options.retry_initial)
                .with_max_delay(options.retry_max)
                .with_jitter()
                .without_max_times(),
        ),
        error_logged: false,
    });
    h.attempts += 1;
    h.sequence = sequence;
    h.reason = error.to_string();
    let delay = h.backoff.next().unwrap_or(options.retry_max);
    h.until = now + delay;
    let held_for = now.duration_since(h.since);
    if h.attempts == 1 {
        tracing::warn!(directory.id = %directory, sequence, %error, retry_in_ms = delay.as_millis() as u64, "a directory's notification was not published; holding that directory back, the others go on");
    } else if held_for >= options.stuck_after && !h.error_logged {
        h.error_logged = true;
        tracing::error!(directory.id = %directory, sequence, %error, attempts = h.attempts, held_ms = held_for.as_millis() as u64, "a directory's notifications are stuck in the outbox");
    } else {
        tracing::debug!(directory.id = %directory, sequence, %error, attempts = h.attempts, "a directory's notification was not published again");
    }
}

/// Tell [`Health`] which directories are held back; stuck if one is for longer than
/// `stuck_after`.
fn report(health: &Health, options: &RelayOptions, held: &HashMap<Uuid, Held>, now: Instant) {
    let mut stuck = false;
    let directories: BTreeMap<String, serde_json::Value> = held
        .iter()
        .map(|(directory, h)| {
            let held_for = now.duration_since(h.since);
            stuck |= held_for >= options.stuck_after;
            (
                directory.to_string(),
                serde_json::json!({
                    "sequence": h.sequence,
                    "reason": h.reason,
                    "attempts": h.attempts,
                    "heldMs": held_for.as_millis() as u64,
                }),
            )
        })
        .collect();
    health.report_component(
        "relay",
        ComponentHealth { stuck, detail: serde_json::json!({ "heldDirectories": directories }) },
    );
}

/// The bounded form of a row's notification, if it is smaller than what was sent.
fn bounded_payload(row: &Unpublished, max_bytes: usize) -> Option<Vec<u8>> {
    let notification = notification::decode_notification(&row.payload).ok()?;
    let limit = max_bytes.min(row.payload.len().saturating_sub(1));
    let bounded = notification::encode_notification(&notification::bounded(notification, limit));
    (bounded.len() < row.payload.len()).then_some(bounded)
}

/// What a round of publishing did: the positions the broker acknowledged, and per directory the
/// first record that failed (its later records were not marked).
struct Round {
    acknowledged: Vec<i64>,
    failed: HashMap<Uuid, Failed>,
}

struct Failed {
    position: i64,
    error: KafkaError,
}

impl Failed {
    fn too_large(&self) -> bool {
        matches!(self.error, KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
    }
}

/// Publish rows in order, per directory: a directory's records after its first failure are not
/// sent (or not counted); other directories are not affected.
async fn publish(producer: &FutureProducer, topic: &str, rows: &[Unpublished]) -> Round {
    let mut failed: HashMap<Uuid, Failed> = HashMap::new();
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in rows {
        if failed.contains_key(&row.directory_id) {
            continue;
        }
        let key = row.directory_id.to_string();
        let headers = match roster_platform::kafka::notification_headers(&row.payload) {
            Ok(headers) => headers,
            Err(error) => {
                tracing::error!(%error, directory.id = %row.directory_id, sequence = row.sequence, "an outbox payload does not decode; published without headers");
                OwnedHeaders::new()
            }
        };
        let mut record =
            FutureRecord::to(topic).key(key.as_bytes()).payload(&row.payload).headers(headers);
        // Enqueue in order (send_result does not wait); a full queue waits for room.
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push((row.directory_id, row.position, delivery));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    failed.insert(row.directory_id, Failed { position: row.position, error });
                    break;
                }
            }
        }
    }
    let mut acknowledged = Vec::with_capacity(deliveries.len());
    for (directory, position, delivery) in deliveries {
        if failed.contains_key(&directory) {
            continue; // after its directory's failure: it goes again, in order
        }
        match delivery.await {
            Ok(Ok(_)) => acknowledged.push(position),
            Ok(Err((error, _))) => {
                failed.insert(directory, Failed { position, error });
            }
            Err(_) => {
                failed.insert(directory, Failed { position, error: KafkaError::Canceled });
            }
        }
    }
    Round { acknowledged, failed }
}
