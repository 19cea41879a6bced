//! The outcome hub: one Postgres connection that `LISTEN`s for the projector's outcomes and
//! wakes the requests waiting for them.
//!
//! A request registers its event id *before* publishing, so the notification cannot arrive
//! first. The hub runs on its own thread, with a runtime of its own, and waits on an async
//! connection ([`Listener`]): a notification is read as soon as Postgres sends it, with no
//! polling. It used to be a blocking libpq connection looked at every millisecond while
//! requests waited (docs/benchmarks.md). After every (re)connection it looks up the outcomes of
//! all waiting requests, so a notification sent while it was disconnected is never lost.
//!
//! The same connection sends the wake-ups of parked consumers ([`OutcomeHub::wake_consumers`],
//! `roster_store::wake`) after an event is acknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::pg::PgNotification;
use roster_store::control::TOKENS_REVOKED_CHANNEL;
use roster_store::listen::Listener;
use roster_store::lookup::LookupConnector;
use roster_store::outcomes::{self, OUTCOMES_CHANNEL, OutcomeRow};
use roster_store::{PoolOptions, StoreError};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

/// How often the hub looks whether it should stop when nothing else wakes it.
const IDLE_TICK: Duration = Duration::from_millis(200);
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// At most one wake-up of the consumers this often: consumers stay awake long after one.
const WAKE_EVERY: Duration = Duration::from_millis(10);

type RevokedCallback = Arc<dyn Fn(Uuid) + Send + Sync>;

/// Shared by every request handler; cheap to clone.
#[derive(Clone)]
pub struct OutcomeHub {
    inner: Arc<Inner>,
}

struct Inner {
    waiters: Mutex<HashMap<Uuid, oneshot::Sender<OutcomeRow>>>,
    stop: AtomicBool,
    connected: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the hub's loop: a wake-up of the consumers is asked for, or the hub is stopping.
    kick: Notify,
    /// An event was acknowledged since the last wake-up sent to the consumers.
    wake_consumers: AtomicBool,
}

/// A registered wait; dropping it unregisters.
pub struct Waiter {
    event_id: Uuid,
    receiver: Option<oneshot::Receiver<OutcomeRow>>,
    hub: OutcomeHub,
}

impl OutcomeHub {
    /// Start the hub's thread. `on_token_revoked` is called with each revoked token id.
    pub fn start(database_url: String, on_token_revoked: RevokedCallback) -> OutcomeHub {
        let hub = OutcomeHub {
            inner: Arc::new(Inner {
                waiters: Mutex::new(HashMap::new()),
                stop: AtomicBool::new(false),
                connected: AtomicBool::new(false),
                thread: Mutex::new(None),
                kick: Notify::new(),
                wake_consumers: AtomicBool::new(false),
            }),
        };
        let worker = hub.clone();
        let handle = std::thread::Builder::new()
            .name("outcome-hub".into())
            .spawn(move || worker.run(&database_url, &on_token_revoked));
        match handle {
            Ok(handle) => *lock(&hub.inner.thread) = Some(handle),
            Err(error) => tracing::error!(%error, "could not start the outcome hub thread"),
        }
        hub
    }

    /// Whether the hub is listening (readiness).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    /// Register interest in the outcome of `event_id`. Call before publishing the event.
    pub fn register(&self, event_id: Uuid) -> Waiter {
        let (sender, receiver) = oneshot::channel();
        lock(&self.inner.waiters).insert(event_id, sender);
        Waiter { event_id, receiver: Some(receiver), hub: self.clone() }
    }

    /// Tell parked consumers that the log has a new event (`NOTIFY roster_changes`, sent by the
    /// hub's thread on its own connection at once, at most one per [`WAKE_EVERY`]). Call after
    /// the broker acknowledged the event.
    pub fn wake_consumers(&self) {
        if !self.inner.wake_consumers.swap(true, Ordering::SeqCst) {
            self.inner.kick.notify_one();
        }
    }

    /// Stop the thread and wait for it.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.kick.notify_one();
        if let Some(handle) = lock(&self.inner.thread).take() {
            let _ = handle.join();
        }
    }

    /// Whether the thread should end: stopped, or nobody but the thread itself holds the hub any
    /// more (the gateway was dropped without a graceful stop, as a test's runtime does). Without
    /// the second, the thread would reconnect forever and keep the verifiers' pools alive.
    fn should_stop(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst) || Arc::strong_count(&self.inner) == 1
    }

    fn run(&self, url: &str, on_token_revoked: &RevokedCallback) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "the outcome hub could not start its runtime");
                return;
            }
        };
        let connector = match LookupConnector::new(url, PoolOptions::default()) {
            Ok(connector) => connector,
            Err(error) => {
                tracing::error!(%error, "the outcome hub cannot connect");
                return;
            }
        };
        runtime.block_on(async {
            while !self.should_stop() {
                match self.listen(&connector, on_token_revoked).await {
                    Ok(()) => return,
                    Err(error) => {
                        self.inner.connected.store(false, Ordering::SeqCst);
                        tracing::warn!(%error, "outcome listener lost its connection; reconnecting");
                        tokio::time::sleep(RECONNECT_DELAY).await;
                    }
                }
            }
        });
    }

    /// Listen until stopped (Ok) or the connection fails (Err).
    async fn listen(
        &self,
        connector: &LookupConnector,
        on_token_revoked: &RevokedCallback,
    ) -> Result<(), StoreError> {
        let mut listener =
            Listener::start(connector, &[OUTCOMES_CHANNEL, TOKENS_REVOKED_CHANNEL]).await?;
        self.inner.connected.store(true, Ordering::SeqCst);
        // Outcomes committed while we were not listening.
        let waiting: Vec<Uuid> = lock(&self.inner.waiters).keys().copied().collect();
        self.deliver(&mut listener, &waiting).await?;

        let mut last_wake: Option<Instant> = None;
        while !self.should_stop() {
            let mut wake_at = Instant::now() + IDLE_TICK;
            if self.inner.wake_consumers.load(Ordering::SeqCst) {
                match last_wake.map(|at| at + WAKE_EVERY).filter(|at| *at > Instant::now()) {
                    Some(due) => wake_at = due,
                    None => {
                        self.inner.wake_consumers.store(false, Ordering::SeqCst);
                        roster_store::wake::notify(listener.connection()).await?;
                        last_wake = Some(Instant::now());
                    }
                }
            }
            let mut ready = HashSet::new();
            tokio::select! {
                notification = listener.next() => {
                    take(notification?, &mut ready, on_token_revoked);
                    // And whatever else has arrived with it.
                    while let Some(notification) = listener.try_next() {
                        take(notification?, &mut ready, on_token_revoked);
                    }
                }
                () = self.inner.kick.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
            let wanted: Vec<Uuid> = {
                let waiters = lock(&self.inner.waiters);
                ready.into_iter().filter(|id| waiters.contains_key(id)).collect()
            };
            self.deliver(&mut listener, &wanted).await?;
        }
        Ok(())
    }

    /// Load the outcomes of `ids` that exist and hand them to their waiters.
    async fn deliver(&self, listener: &mut Listener, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let rows = outcomes::find_many_async(listener.connection(), ids).await?;
        let mut waiters = lock(&self.inner.waiters);
        for row in rows {
            if let Some(sender) = waiters.remove(&row.event_id) {
                // The request may have given up (timeout, client gone); that is fine.
                let _ = sender.send(row);
            }
        }
        Ok(())
    }
}

/// Note a notification: the event ids of outcomes, or a revoked token.
fn take(
    notification: PgNotification,
    ready: &mut HashSet<Uuid>,
    on_token_revoked: &RevokedCallback,
) {
    if notification.channel == OUTCOMES_CHANNEL {
        ready.extend(notification.payload.split(',').filter_map(|id| Uuid::parse_str(id).ok()));
    } else if notification.channel == TOKENS_REVOKED_CHANNEL
        && let Ok(id) = Uuid::parse_str(&notification.payload)
    {
        on_token_revoked(id);
    }
}

impl Waiter {
    /// Wait for the outcome, at most `timeout`. `None`: it did not come in time.
    pub async fn wait(mut self, timeout: Duration) -> Option<OutcomeRow> {
        let receiver = self.receiver.take()?;
        tokio::time::timeout(timeout, receiver).await.ok()?.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        lock(&self.hub.inner.waiters).remove(&self.event_id);
    }
}

/// A poisoned lock only means another thread panicked while holding it; the map is still valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(channel: &str, payload: String) -> PgNotification {
        PgNotification { process_id: 1, channel: channel.into(), payload }
    }

    /// Whatever a payload holds, only well-formed ids are taken, and nothing panics: control
    /// characters and NUL, an empty payload, the largest payload Postgres sends, ids cut short.
    #[test]
    fn a_malformed_payload_yields_only_its_well_formed_ids() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let seen = revoked.clone();
        let callback: RevokedCallback = Arc::new(move |id| lock(&seen).push(id));
        let mut ready = HashSet::new();
        for (channel, payload) in [
            (OUTCOMES_CHANNEL, format!("{a},\0\u{1b}[2J,{},,{b}", &b.to_string()[..20])),
            (OUTCOMES_CHANNEL, String::new()),
            (OUTCOMES_CHANNEL, ",".repeat(7999)),
            (OUTCOMES_CHANNEL, "x".repeat(7999)),
            (TOKENS_REVOKED_CHANNEL, format!("{a}\0")),
            (TOKENS_REVOKED_CHANNEL, "\u{7f}".repeat(4000)),
            ("another_channel", b.to_string()),
        ] {
            take(notification(channel, payload), &mut ready, &callback);
        }
        assert_eq!(ready, HashSet::from([a, b]));
        assert!(lock(&revoked).is_empty(), "no malformed token id is revoked");
        take(notification(TOKENS_REVOKED_CHANNEL, b.to_string()), &mut ready, &callback);
        assert_eq!(*lock(&revoked), vec![b]);
    }

    /// A hub dropped without `stop` (its gateway's runtime went away) ends its thread, and with
    /// it what the revocation callback holds (the verifiers and their pools), instead of
    /// reconnecting forever.
    #[test]
    fn a_dropped_hub_ends_its_thread_and_releases_the_callback() {
        let callback: RevokedCallback = Arc::new(|_| {});
        let held = Arc::downgrade(&callback);
        // Nothing listens on port 1: the thread keeps failing to connect, as with a dropped
        // database.
        let hub = OutcomeHub::start("postgres://127.0.0.1:1/nothing".into(), callback);
        std::thread::sleep(RECONNECT_DELAY);
        assert!(held.upgrade().is_some(), "the running thread holds its callback");
        drop(hub);
        let deadline = std::time::Instant::now() + RECONNECT_DELAY * 4;
        while held.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "the hub's thread outlived every handle");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
