//! The change-log consume loop shared by the projector and the role-mapper. It runs on a
//! dedicated thread (everything in it blocks: librdkafka polls, diesel) with a Postgres
//! connection of its own, and keeps its positions in Postgres, beside the data it writes:
//!
//! - on partition assignment it seeks to the offsets stored in Postgres, after checking that
//!   the log is the one they were taken from (see [`ConsumerError::LogBehind`] and friends);
//! - it polls every assigned partition into a buffer per partition; **the unit of work is one
//!   partition's run of events** (every event already fetched when it falls due, up to
//!   `max_batch`, after lingering `linger` for more), so a partition that fails or waits never
//!   holds back another. A partition whose buffer is full while it cannot advance is paused in
//!   librdkafka until it drains;
//! - the [`BatchHandler`] says how much of a batch is ready, outside any transaction (the
//!   role-mapper: what the projector has applied), then, in one transaction per partition batch,
//!   the loop locks the partition's stored position, skips events already applied (a zombie
//!   after a rebalance) or rejected by an operator (`roster log reject`), hands the rest to the
//!   handler and stores the new position;
//! - a failed transaction is classified ([`roster_store::sqlstate::Failure`]): an outage is
//!   retried with capped, jittered, exponential backoff; a data error, or a failure not
//!   understood, makes the batch go again event by event, each in a savepoint
//!   ([`transaction`]): the event Postgres refuses is handed to [`BatchHandler::refuse`] (the
//!   projector records a rejected outcome) and the others apply, while an event that fails
//!   otherwise stops its partition there, retried with backoff until it applies or an
//!   operator rejects it. An event of a change type this version does not know stops its
//!   partition the same way (skipping it would lose an acknowledged write);
//! - what each partition is doing is reported to [`Health`]: a partition that has had events
//!   waiting without advancing for `stuck_after` is stuck (readiness fails) and logs one ERROR
//!   with its partition, offset, event id and reason; retries log at DEBUG, and one INFO says
//!   when it moves again.

mod context;
mod transaction;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use roster_events::{DecodeError, DecodedChange};
use roster_store::sqlstate::Failure;
use roster_store::{PgConnection, StoreError};
use uuid::Uuid;

pub use self::context::LogContext;
use self::transaction::{Attempt, Mode, Stop};
pub use crate::consumer_error::{ConsumerError, ResetHint};
use crate::health::{Health, PartitionHealth};
use crate::shutdown::Shutdown;

/// How a consumer is set up.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    pub topic: String,
    /// Most events of one partition in one transaction.
    pub max_batch: usize,
    /// How long a partition's first buffered event waits for more.
    pub linger: Duration,
    /// First and longest delay (before jitter) between retries of a failing partition.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// The consumer's own connections (its loop, and the positions read at assignment).
    pub database_url: String,
    /// The database is on this machine: a log-fence error names `make reset`.
    pub local_stack: bool,
    /// Stop fetching while nothing happens ([`Park`]); None: always fetch.
    pub park: Option<Park>,
}

/// Parking: after `after` without any event, the consumer pauses its partitions (no fetches,
/// so an idle broker does nothing) and waits for a wake-up from the gateway
/// ([`roster_store::wake`]), or for `max` at most, before it fetches again. For brokers that
/// hold every fetch for the whole `fetch.wait.max.ms` (Nisshi): there, a short wait keeps
/// writes fast and parking keeps the idle cost near zero. Kafka answers fetches when data
/// arrives, so production needs neither.
#[derive(Debug, Clone, Copy)]
pub struct Park {
    pub after: Duration,
    pub max: Duration,
}

/// What a consumer does with its batches.
pub trait BatchHandler {
    /// Outside any transaction, before a partition's batch: how many of its leading records
    /// may be applied now. 0: none yet; the loop asks again after `linger` (2 ms at least),
    /// meanwhile serving the other partitions (the role-mapper answers with what the projector
    /// has applied). An error fails the attempt, which is retried.
    fn ready(
        &mut self,
        _conn: &mut PgConnection,
        _partition: i32,
        batch: &[Record],
    ) -> Result<usize, StoreError> {
        Ok(batch.len())
    }

    /// Why a partition waits when [`BatchHandler::ready`] said 0.
    fn waiting_reason(&self) -> &'static str {
        "waiting"
    }

    /// Inside the batch's transaction: apply `records`, the events of one partition's batch
    /// not applied yet, in log order. An error rolls the transaction back (see the module doc
    /// for what follows).
    fn apply(&mut self, conn: &mut PgConnection, records: &[&Record]) -> Result<(), StoreError>;

    /// Postgres refused `record`'s data (`error` is a data error: class 22, 23 or 54) and its
    /// savepoint was rolled back: record that, in the same transaction (the projector: a
    /// rejected outcome). An error leaves the partition stopped at the record.
    fn refuse(
        &mut self,
        conn: &mut PgConnection,
        record: &Record,
        error: &StoreError,
    ) -> Result<(), StoreError>;

    /// After a batch's transaction committed.
    fn committed(&mut self) {}

    /// After a batch's transaction was rolled back (it will be tried again).
    fn rolled_back(&mut self) {}
}

/// Counters of what this process did, for tests and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events applied (handed to the handler and committed), by this process; refused events
    /// are among them.
    pub events_applied: AtomicU64,
    /// Events delivered again after they had been applied, and skipped.
    pub events_skipped: AtomicU64,
    /// Events whose data Postgres refused, handed to [`BatchHandler::refuse`].
    pub events_refused: AtomicU64,
    /// Events moved past because an operator rejected them.
    pub events_operator_rejected: AtomicU64,
    /// Batches committed (each one partition's).
    pub batches: AtomicU64,
    /// Failed attempts (each retried).
    pub failed_attempts: AtomicU64,
    /// Times a partition became stuck (each logged its one ERROR).
    pub stuck: AtomicU64,
    /// Times the consumer parked (stopped fetching while idle).
    pub parks: AtomicU64,
}

/// One message, decoded once. An undecodable event (not protobuf, or ids that are not UUIDs)
/// is poison: it can never be applied by any version, and handlers skip it. An event of a
/// change type this version does not know stops its partition ([`Record::is_unknown_change`]).
#[derive(Debug)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub event: Result<DecodedChange, DecodeError>,
}

impl Record {
    /// The event's id, when the bytes carried one.
    pub fn event_id(&self) -> Option<Uuid> {
        match &self.event {
            Ok(event) => Some(event.event_id),
            Err(error) => error.event_id(),
        }
    }

    /// The event is well-formed but states a change this version does not know.
    pub fn is_unknown_change(&self) -> bool {
        matches!(self.event, Err(DecodeError::NoChange { .. }))
    }
}

/// Run until `shutdown` (Ok) or a fatal condition (Err: a log fence). Blocks: call on a
/// dedicated thread. `health` is marked alive while it runs.
pub fn run<H: BatchHandler>(
    brokers_config: rdkafka::ClientConfig,
    options: ConsumerOptions,
    handler: &mut H,
    stats: Arc<Stats>,
    health: Arc<Health>,
    shutdown: Shutdown,
) -> Result<(), ConsumerError> {
    health.set_alive(true);
    let _alive = Alive(health.clone());
    let context = LogContext::new(options.clone(), shutdown.clone());
    let mut brokers_config = brokers_config;
    brokers_config.set("statistics.interval.ms", context::STATISTICS_INTERVAL_MS);
    let consumer: BaseConsumer<LogContext> = brokers_config.create_with_context(context)?;
    consumer.subscribe(&[&options.topic])?;
    tracing::info!(kafka.topic = %options.topic, kafka.group = %options.group, "consuming the change log");
    let now = Instant::now();
    let mut state = Loop {
        db: Db {
            url: options.database_url.clone(),
            conn: None,
            language_checked: false,
            listen: options.park.is_some(),
        },
        consumer,
        options,
        partitions: BTreeMap::new(),
        generation: u64::MAX,
        stats,
        health,
        parked_until: None,
        last_news: now,
        last_drain: now,
        last_lag: now,
    };
    // Connect (and LISTEN for wake-ups) before the first event; a failure is retried later.
    if let Err(error) = state.db.get() {
        tracing::warn!(%error, "could not connect to Postgres yet");
        state.db.discard();
    }
    while !shutdown.is_triggered() {
        if state.parked_until.is_some() {
            state.wait_parked(&shutdown)?;
        }
        state.poll()?;
        state.fatal()?;
        state.work(handler, &shutdown);
        state.flow_control();
        state.report();
        state.maybe_park();
    }
    tracing::info!(kafka.group = %state.options.group, "consumer stopped");
    Ok(())
}

/// How long the loop polls when no partition has anything due.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// While parked: how often the loop looks for a wake-up. This bounds what parking adds to the
/// first write after a quiet spell.
const PARK_TICK: Duration = Duration::from_millis(10);

/// While parked: how often librdkafka is polled (for its callbacks: rebalances). Polling it is
/// what costs, so it is polled less often than Postgres is looked at.
const PARK_POLL_EVERY: u32 = 5;

/// How long a parked consumer that woke by its own deadline fetches before it parks again.
const PROBE: Duration = Duration::from_millis(25);

/// How long the broker may take to say where a partition's log ends, before parking.
const WATERMARK_TIMEOUT: Duration = Duration::from_millis(500);

/// How soon a partition whose batch was not ready (the role-mapper, ahead of the projector) is
/// asked again, at the least (each asking is a query): never in a busy loop, even without a
/// linger. 2 ms, the linger's default before it was 0.
const READY_AGAIN: Duration = Duration::from_millis(2);

/// How often a partition is fetched again from the same missing offset before the gap is taken
/// for a hole in the log itself and passed (with a WARN).
const GAP_REFETCHES: u32 = 3;

/// How often wake-ups that arrive while the loop is busy are taken off the connection.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Marks the consumer dead when the loop ends, however it ends.
struct Alive(Arc<Health>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.set_alive(false);
    }
}

/// The loop's own Postgres connection, re-established after a failure (a connection that saw
/// an outage is never trusted again).
struct Db {
    url: String,
    conn: Option<PgConnection>,
    language_checked: bool,
    /// `LISTEN` for wake-ups on every connection (when parking).
    listen: bool,
}

impl Db {
    fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(self.conn.insert(conn))
    }

    fn connect(&mut self) -> Result<PgConnection, StoreError> {
        let mut conn = roster_store::establish_for_batches(&self.url)?;
        if !self.language_checked {
            self.language_checked = true;
            match roster_store::sqlstate::messages_are_english(&mut conn) {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    "Postgres words its messages in another language than English (lc_messages): \
                     data errors cannot be told from other failures, so an event Postgres refuses \
                     stops its partition (retried, visible) instead of becoming a rejected outcome"
                ),
                Err(error) => tracing::warn!(%error, "could not read lc_messages"),
            }
        }
        if self.listen {
            roster_store::wake::listen(&mut conn)?;
        }
        Ok(conn)
    }

    /// Whether a wake-up arrived (taking every notification off the connection). Without a
    /// connection, or when it fails, the answer is yes: a needless fetch is harmless.
    fn woken(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else { return true };
        match roster_store::wake::drain(conn) {
            Ok(woken) => woken,
            Err(error) => {
                tracing::debug!(%error, "the wake-up connection failed");
                self.discard();
                true
            }
        }
    }

    fn discard(&mut self) {
        self.conn = None;
    }
}

/// A message, decoded once.
fn record_of(message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        partition: message.partition(),
        offset: message.offset(),
        event: roster_events::decode(message.payload().unwrap_or_default()),
    }
}

/// What became of a received message.
enum Received {
    /// Buffered; when its partition's batch is due.
    Buffered(Option<Instant>),
    /// Not for a batch (the verification read of a fresh assignment).
    Skipped,
    /// A fatal condition was raised: stop polling.
    Stop,
}

/// One assigned partition's buffer and state.
#[derive(Default)]
struct Partition {
    records: VecDeque<Record>,
    /// When the oldest buffered record arrived (for the linger).
    first_at: Option<Instant>,
    /// Not before then (a retry's backoff, or a wait for the projector).
    retry_at: Option<Instant>,
    /// Paused in librdkafka (its buffer is full).
    paused: bool,
    /// Since when events have waited without the partition advancing.
    waiting_since: Option<Instant>,
    /// The current trouble, from the first failure or wait to the next progress.
    trouble: Option<Trouble>,
    /// The last gap in the fetched offsets (the offset missing) and how often the partition
    /// was fetched again from it.
    gap: Option<(i64, u32)>,
}

struct Trouble {
    since: Instant,
    attempts: u32,
    reason: String,
    backoff: backon::ExponentialBackoff,
    /// Something was logged (a WARN or the ERROR): its end gets an INFO.
    logged: bool,
    /// The one ERROR was logged.
    error_logged: bool,
}

impl Partition {
    /// When this partition's head batch may go (None: nothing buffered).
    fn due_at(&self, options: &ConsumerOptions) -> Option<Instant> {
        let first_at = self.first_at?;
        if self.records.is_empty() {
            return None;
        }
        if let Some(retry_at) = self.retry_at {
            return Some(retry_at);
        }
        if self.records.len() >= options.max_batch {
            return Some(first_at);
        }
        Some(first_at + options.linger)
    }

    fn head(&self) -> (Option<i64>, Option<Uuid>) {
        let head = self.records.front();
        (head.map(|r| r.offset), head.and_then(Record::event_id))
    }
}

struct Loop {
    db: Db,
    consumer: BaseConsumer<LogContext>,
    options: ConsumerOptions,
    partitions: BTreeMap<i32, Partition>,
    generation: u64,
    stats: Arc<Stats>,
    health: Arc<Health>,
    /// Parked (partitions paused) until a wake-up, or this deadline.
    parked_until: Option<Instant>,
    /// When an event last arrived or a partition last had work.
    last_news: Instant,
    /// When wake-ups were last taken off the connection.
    last_drain: Instant,
    /// When the lag gauges were last measured.
    last_lag: Instant,
}

impl Loop {
    fn fatal(&self) -> Result<(), ConsumerError> {
        match lock(&self.consumer.context().fatal).take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// After a rebalance, what was buffered belongs to an older assignment: start over from
    /// the partitions assigned now (librdkafka seeks them to the positions in Postgres).
    fn follow_assignment(&mut self) {
        let context = self.consumer.context();
        let generation = context.generation.load(Ordering::SeqCst);
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        let assigned = lock(&context.assigned).clone();
        self.partitions = assigned.into_iter().map(|p| (p, Partition::default())).collect();
    }

    /// Poll into the buffers until a partition is due, or for at most [`IDLE_POLL`]. Once one
    /// is due, what librdkafka has already fetched is taken too (without waiting, up to
    /// `max_batch` records more), so a batch carries every event that has arrived: the linger
    /// need not wait for them, and a lone write goes at once.
    fn poll(&mut self) -> Result<(), ConsumerError> {
        self.follow_assignment();
        let now = Instant::now();
        let mut until = now + IDLE_POLL;
        for partition in self.partitions.values() {
            if let Some(due) = partition.due_at(&self.options) {
                until = until.min(due);
            }
        }
        let mut past_due = 0;
        loop {
            let timeout = until.saturating_duration_since(Instant::now());
            let message = match self.consumer.poll(timeout) {
                None => return Ok(()),
                Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "kafka poll failed");
                    return Ok(());
                }
                Some(Ok(message)) => message,
            };
            let record = record_of(&message);
            drop(message);
            match self.receive(record)? {
                Received::Stop => return Ok(()),
                Received::Skipped => continue,
                Received::Buffered(Some(due)) => until = until.min(due),
                Received::Buffered(None) => {}
            }
            if Instant::now() >= until {
                past_due += 1;
                if past_due > self.options.max_batch {
                    return Ok(());
                }
            }
        }
    }

    /// Buffer a received record in its partition.
    fn receive(&mut self, record: Record) -> Result<Received, ConsumerError> {
        self.follow_assignment();
        if lock(&self.consumer.context().fatal).is_some() {
            return Ok(Received::Stop);
        }
        if !self.consumer.context().admit(&record)? {
            return Ok(Received::Skipped);
        }
        let arrived = Instant::now();
        self.last_news = arrived;
        let partition = self.partitions.entry(record.partition).or_default();
        if partition.records.is_empty() {
            partition.first_at = Some(arrived);
            partition.waiting_since = Some(arrived);
        }
        partition.records.push_back(record);
        Ok(Received::Buffered(partition.due_at(&self.options)))
    }

    /// The assigned partitions, as a list for pause and resume.
    fn assignment(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for partition in self.partitions.keys() {
            list.add_partition(&self.options.topic, *partition);
        }
        list
    }

    /// Park when nothing has happened for `park.after`: pause every partition (no fetches).
    fn maybe_park(&mut self) {
        let Some(park) = self.options.park else { return };
        let now = Instant::now();
        let busy = self
            .partitions
            .values()
            .any(|p| !p.records.is_empty() || p.paused || p.trouble.is_some());
        if busy {
            self.last_news = now;
            return;
        }
        if now.duration_since(self.last_drain) >= DRAIN_EVERY {
            // Wake-ups of events already fetched: libpq would keep them all.
            self.last_drain = now;
            if self.db.woken() {
                self.last_news = now;
            }
        }
        if self.partitions.is_empty()
            || now.duration_since(self.last_news) < park.after
            || self.consumer.context().verifying()
        {
            return;
        }
        if self.db.get().is_err() {
            // No connection to hear wake-ups on: keep fetching.
            self.db.discard();
            return;
        }
        if self.log_has_news() {
            // Events are waiting that no fetch has brought yet (a busy machine can take longer
            // than a probe to answer one): parking now would leave them until the next deadline.
            self.last_news = now;
            return;
        }
        match self.consumer.pause(&self.assignment()) {
            Ok(()) => {
                self.parked_until = Some(now + park.max);
                self.stats.parks.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("nothing new; parked until a wake-up");
            }
            Err(error) => tracing::warn!(%error, "could not pause the partitions to park"),
        }
    }

    /// Parked: wait for a wake-up, a message, a rebalance, shutdown or the deadline, then fetch
    /// again.
    /// Whether the log holds events past an assigned partition's position (asked of the broker:
    /// one watermark request per partition, only when about to park). Not knowing is news.
    fn log_has_news(&self) -> bool {
        let Ok(position) = self.consumer.position() else { return true };
        self.partitions.keys().any(|partition| {
            let Ok((_, high)) =
                self.consumer.fetch_watermarks(&self.options.topic, *partition, WATERMARK_TIMEOUT)
            else {
                return true;
            };
            let next = position
                .find_partition(&self.options.topic, *partition)
                .and_then(|p| p.offset().to_raw());
            match next {
                Some(next) if next >= 0 => next < high,
                // Nothing fetched, no position yet: news unless the partition is empty.
                _ => high > 0,
            }
        })
    }

    fn wait_parked(&mut self, shutdown: &Shutdown) -> Result<(), ConsumerError> {
        let Some(deadline) = self.parked_until else { return Ok(()) };
        let generation = self.consumer.context().generation.load(Ordering::SeqCst);
        let mut woken = false;
        let mut ticks: u32 = 0;
        while !woken && !shutdown.is_triggered() {
            if Instant::now() >= deadline {
                // Only a look at the log: park again soon unless it has news.
                if let Some(park) = self.options.park {
                    let now = Instant::now();
                    self.last_news =
                        now.checked_sub(park.after.saturating_sub(PROBE)).unwrap_or(now);
                }
                self.parked_until = None;
                return self.resume_after_parking();
            }
            ticks = ticks.wrapping_add(1);
            if !ticks.is_multiple_of(PARK_POLL_EVERY) {
                std::thread::sleep(PARK_TICK);
                woken |= self.db.woken();
                continue;
            }
            match self.consumer.poll(PARK_TICK) {
                Some(Ok(message)) => {
                    let record = record_of(&message);
                    drop(message);
                    self.receive(record)?;
                    woken = true;
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(error)) => tracing::warn!(%error, "kafka poll failed"),
            }
            self.fatal()?;
            woken |= self.consumer.context().generation.load(Ordering::SeqCst) != generation;
            woken |= self.db.woken();
        }
        self.parked_until = None;
        self.last_news = Instant::now();
        self.resume_after_parking()
    }

    /// Fetch again. librdkafka's broker thread notices a resumed partition only when it next
    /// wakes by itself (up to a second later), so a metadata request, which it serves at once,
    /// nudges it: the first fetch then leaves within a millisecond or two.
    fn resume_after_parking(&mut self) -> Result<(), ConsumerError> {
        // After a rebalance the new assignment is not paused; resuming it is harmless.
        if let Err(error) = self.consumer.resume(&self.assignment()) {
            tracing::warn!(%error, "could not resume the partitions after parking");
        }
        if let Err(error) =
            self.consumer.fetch_metadata(Some(&self.options.topic), Duration::from_millis(500))
        {
            tracing::debug!(%error, "the metadata request after parking failed");
        }
        Ok(())
    }

    /// One batch of every partition that is due, the longest waiting first.
    fn work<H: BatchHandler>(&mut self, handler: &mut H, shutdown: &Shutdown) {
        let now = Instant::now();
        let mut due: Vec<(Instant, i32)> = self
            .partitions
            .iter()
            .filter_map(|(p, state)| state.due_at(&self.options).map(|at| (at, *p)))
            .filter(|(at, _)| *at <= now)
            .collect();
        due.sort();
        for (_, partition) in due {
            if shutdown.is_triggered() {
                return;
            }
            self.attempt(handler, partition);
        }
    }

    /// Try a partition's head batch once.
    fn attempt<H: BatchHandler>(&mut self, handler: &mut H, partition: i32) {
        let started = Instant::now();
        let Loop { db, options, partitions, stats, consumer, .. } = self;
        let Some(state) = partitions.get_mut(&partition) else { return };
        let take = state.records.len().min(options.max_batch);
        let batch = &state.records.make_contiguous()[..take];
        let accept_gap =
            state.gap.filter(|(_, refetches)| *refetches >= GAP_REFETCHES).map(|(at, _)| at);
        let result = (|| -> Result<Option<Attempt>, StoreError> {
            let conn = db.get()?;
            let ready = handler.ready(conn, partition, batch)?.min(batch.len());
            if ready == 0 {
                return Ok(None);
            }
            let batch = &batch[..ready];
            let fast = transaction::attempt(
                conn,
                options,
                handler,
                partition,
                batch,
                Mode::Batch,
                accept_gap,
            );
            match fast {
                Err(error) if error.failure() != Failure::Transient => {
                    handler.rolled_back();
                    tracing::debug!(kafka.partition = partition, %error, "batch failed; applying it event by event");
                    transaction::attempt(
                        conn,
                        options,
                        handler,
                        partition,
                        batch,
                        Mode::EventByEvent,
                        accept_gap,
                    )
                    .map(Some)
                }
                other => other.map(Some),
            }
        })();
        let now = Instant::now();
        match result {
            Ok(None) => {
                let reason = handler.waiting_reason();
                let trouble = state.trouble.get_or_insert_with(|| Trouble::new(now, options));
                trouble.reason = reason.to_string();
                // Ask again soon; after a second of waiting, no more often than an idle poll.
                let again = if now.duration_since(trouble.since) < Duration::from_secs(1) {
                    options.linger.max(READY_AGAIN)
                } else {
                    IDLE_POLL
                };
                state.retry_at = Some(now + again);
            }
            Ok(Some(attempt)) => {
                handler.committed();
                record_batch(&options.group, &attempt, started.elapsed());
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.events_applied.fetch_add(attempt.applied as u64, Ordering::Relaxed);
                stats.events_skipped.fetch_add(attempt.skipped as u64, Ordering::Relaxed);
                stats.events_refused.fetch_add(attempt.refused as u64, Ordering::Relaxed);
                stats
                    .events_operator_rejected
                    .fetch_add(attempt.operator_rejected as u64, Ordering::Relaxed);
                tracing::debug!(
                    kafka.partition = partition,
                    events = attempt.consumed,
                    applied = attempt.applied,
                    "batch committed"
                );
                state.records.drain(..attempt.consumed);
                if attempt.consumed > 0 {
                    progressed(state, partition, now);
                }
                if let Some(missing) = attempt.gap {
                    refetch(consumer, options, state, partition, missing);
                    return;
                }
                match attempt.stop {
                    None => state.retry_at = None,
                    Some(stop) => {
                        if stopped(state, options, partition, stop, now) {
                            stats.stuck.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Err(error) => {
                handler.rolled_back();
                db.discard();
                stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                failed(state, options, partition, &error, now);
            }
        }
    }

    /// Pause a partition whose buffer is full (it is failing or waiting, so polling more of it
    /// would only grow the buffer); resume it when it has drained.
    fn flow_control(&mut self) {
        let high = self.options.max_batch * 2;
        let topic = self.options.topic.clone();
        for (partition, state) in &mut self.partitions {
            let pause = state.records.len() >= high;
            let resume = state.paused && state.records.len() <= self.options.max_batch;
            if pause == state.paused && !resume {
                continue;
            }
            let mut list = TopicPartitionList::new();
            list.add_partition(&topic, *partition);
            let result = if pause && !state.paused {
                self.consumer.pause(&list)
            } else if resume {
                self.consumer.resume(&list)
            } else {
                continue;
            };
            match result {
                Ok(()) => state.paused = pause,
                Err(error) => {
                    tracing::warn!(kafka.partition = partition, %error, "could not pause or resume")
                }
            }
        }
    }

    /// Tell [`Health`] where each partition stands; log the one ERROR of a partition that just
    /// became stuck.
    fn report(&mut self) {
        let now = Instant::now();
        let stuck_after = self.health.stuck_after();
        let mut report = BTreeMap::new();
        for (partition, state) in &mut self.partitions {
            let (head_offset, head_event_id) = state.head();
            let waiting_since = if state.records.is_empty() { None } else { state.waiting_since };
            if let Some(since) = waiting_since
                && now.duration_since(since) >= stuck_after
            {
                let trouble =
                    state.trouble.get_or_insert_with(|| Trouble::new(since, &self.options));
                if trouble.reason.is_empty() {
                    trouble.reason = "not advancing".to_string();
                }
                if !trouble.error_logged {
                    trouble.error_logged = true;
                    trouble.logged = true;
                    self.stats.stuck.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        kafka.partition = partition,
                        kafka.offset = ?head_offset,
                        event.id = ?head_event_id,
                        reason = %trouble.reason,
                        attempts = trouble.attempts,
                        stuck_for_ms = now.duration_since(since).as_millis() as u64,
                        "partition stuck"
                    );
                }
            }
            report.insert(
                *partition,
                PartitionHealth {
                    buffered: state.records.len(),
                    head_offset,
                    head_event_id,
                    waiting_since,
                    reason: state.trouble.as_ref().map(|t| t.reason.clone()),
                    attempts: state.trouble.as_ref().map_or(0, |t| t.attempts),
                },
            );
        }
        self.health.report_partitions(report);
        if now.duration_since(self.last_lag) >= LAG_EVERY {
            self.last_lag = now;
            self.report_lag();
        }
    }

    /// `roster_consumer_lag_events` and `_seconds` per assigned partition: the log's end (from
    /// librdkafka's statistics, no request) less the next offset to apply (the head of the
    /// buffer, else the fetch position); the age of the head event, 0 when nothing waits.
    fn report_lag(&self) {
        let group = self.options.group.clone();
        let position = self.consumer.position().ok();
        let ends = lock(&self.consumer.context().log_ends).clone();
        for (partition, state) in &self.partitions {
            let Some(&high) = ends.get(partition) else { continue };
            let fetched = || {
                position
                    .as_ref()?
                    .find_partition(&self.options.topic, *partition)?
                    .offset()
                    .to_raw()
            };
            let next = match state.records.front().map(|r| r.offset).or_else(fetched) {
                Some(next) if next >= 0 => next,
                // Nothing fetched from it yet: an empty partition has no lag, any other one
                // is measured once its first fetch has a position.
                _ if high == 0 => 0,
                _ => continue,
            };
            let label = partition.to_string();
            metrics::gauge!("roster_consumer_lag_events", "group" => group.clone(), "partition" => label.clone())
                .set((high - next).max(0) as f64);
            let age = state.records.front().and_then(|r| r.event.as_ref().ok()).map_or(0.0, |e| {
                (chrono::Utc::now() - e.event_time).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!("roster_consumer_lag_seconds", "group" => group.clone(), "partition" => label)
                .set(age);
        }
    }
}

/// How often the lag gauges are measured.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// A committed batch's size, duration and events by result.
fn record_batch(group: &str, attempt: &transaction::Attempt, took: Duration) {
    let group = group.to_string();
    metrics::histogram!("roster_batch_size_events", "group" => group.clone())
        .record(attempt.consumed as f64);
    metrics::histogram!("roster_batch_duration_seconds", "group" => group.clone()).record(took);
    for (result, count) in [
        ("applied", attempt.applied),
        ("skipped", attempt.skipped),
        ("refused", attempt.refused),
        ("operator_rejected", attempt.operator_rejected),
    ] {
        if count > 0 {
            metrics::counter!("roster_consumer_events_total", "group" => group.clone(), "result" => result)
                .increment(count as u64);
        }
    }
}

impl Trouble {
    fn new(since: Instant, options: &ConsumerOptions) -> Trouble {
        Trouble {
            since,
            attempts: 0,
            reason: String::new(),
            backoff: options.backoff(),
            logged: false,
            error_logged: false,
        }
    }

    fn next_delay(&mut self, options: &ConsumerOptions) -> Duration {
        self.backoff.next().unwrap_or(options.retry_max)
    }
}

/// The partition advanced: its trouble, if any, is over.
fn progressed(state: &mut Partition, partition: i32, now: Instant) {
    state.waiting_since = if state.records.is_empty() { None } else { Some(now) };
    if state.records.is_empty() {
        state.first_at = None;
    }
    if let Some(trouble) = state.trouble.take()
        && trouble.logged
    {
        tracing::info!(
            kafka.partition = partition,
            attempts = trouble.attempts,
            stalled_ms = now.duration_since(trouble.since).as_millis() as u64,
            "partition advancing again"
        );
    }
}

/// The fetched records of `partition` skip `missing`: drop them and fetch again from it.
fn refetch(
    consumer: &BaseConsumer<LogContext>,
    options: &ConsumerOptions,
    state: &mut Partition,
    partition: i32,
    missing: i64,
) {
    let refetches = match state.gap {
        Some((at, refetches)) if at == missing => refetches + 1,
        _ => 1,
    };
    state.gap = Some((missing, refetches));
    tracing::warn!(
        kafka.partition = partition,
        expected = missing,
        found = ?state.head().0,
        refetches,
        "gap in the fetched offsets; fetching again from the missing one"
    );
    metrics::counter!("roster_consumer_refetches_total", "group" => options.group.clone())
        .increment(1);
    state.records.clear();
    state.first_at = None;
    state.retry_at = None;
    let offset = rdkafka::Offset::Offset(missing);
    if let Err(error) = consumer.seek(&options.topic, partition, offset, Duration::from_secs(1)) {
        // The records fetched next then show the same gap, and it is tried again.
        tracing::warn!(kafka.partition = partition, %error, "could not seek to the missing offset");
    }
}

/// The partition stopped at its head record: retried with backoff, and said at once (this does
/// not heal by itself). Returns whether this logged the partition's ERROR.
fn stopped(
    state: &mut Partition,
    options: &ConsumerOptions,
    partition: i32,
    stop: Stop,
    now: Instant,
) -> bool {
    let (offset, event_id) = state.head();
    let reason = match stop {
        Stop::UnknownChange => format!(
            "the event states a change this version does not know: upgrade the projector and the \
             role-mapper, or reject the event with `roster log reject --partition {partition} \
             --offset {} --reason …`",
            offset.unwrap_or_default()
        ),
        Stop::Failed(reason) => reason,
    };
    let trouble = state.trouble.get_or_insert_with(|| Trouble::new(now, options));
    trouble.attempts += 1;
    let delay = trouble.next_delay(options);
    state.retry_at = Some(now + delay);
    if trouble.error_logged && trouble.reason == reason {
        tracing::debug!(kafka.partition = partition, kafka.offset = ?offset, attempts = trouble.attempts, "partition still stopped at an event");
        false
    } else {
        let first = !trouble.error_logged;
        trouble.reason = reason;
        trouble.error_logged = true;
        trouble.logged = true;
        tracing::error!(
            kafka.partition = partition,
            kafka.offset = ?offset,
            event.id = ?event_id,
            reason = %trouble.reason,
            retry_in_ms = delay.as_millis() as u64,
            "partition stopped at an event it cannot apply"
        );
        first
    }
}

/// The attempt failed as a whole (an outage, or a failure before any event): retry it.
fn failed(
    state: &mut Partition,
    options: &ConsumerOptions,
    partition: i32,
    error: &StoreError,
    now: Instant,
) {
    let (offset, event_id) = state.head();
    let trouble = state.trouble.get_or_insert_with(|| Trouble::new(now, options));
    trouble.attempts += 1;
    trouble.reason = error.to_string();
    let delay = trouble.next_delay(options);
    state.retry_at = Some(now + delay);
    if trouble.logged {
        tracing::debug!(kafka.partition = partition, attempts = trouble.attempts, %error, retry_in_ms = delay.as_millis() as u64, "batch failed again; retrying");
    } else {
        trouble.logged = true;
        tracing::warn!(
            kafka.partition = partition,
            kafka.offset = ?offset,
            event.id = ?event_id,
            %error,
            retry_in_ms = delay.as_millis() as u64,
            "batch failed; retrying"
        );
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
