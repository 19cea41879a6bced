//! Building and running the role-mapper: the reconciling consumer on a thread of its own, the
//! relay as a task, and their health endpoints.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use roster_platform::consumer::{self, ConsumerError, ConsumerOptions, Stats};
use roster_platform::health::{self, Health};
use roster_platform::{Settings, Shutdown, kafka};
use tokio::sync::Notify;

use crate::reconcile::{ReconcileOptions, Reconciler};
use crate::relay::{self, RelayOptions, RelayStats};

/// The `application_name` of the role-mapper's Postgres sessions.
pub const APPLICATION_NAME: &str = "roster-role-mapper";

/// Room left within `kafka.max_message_bytes` for the record's key, headers and framing: a
/// notification's encoded body may use the rest.
const RECORD_OVERHEAD_BYTES: usize = 4096;

pub struct Application {
    consumer_config: rdkafka::ClientConfig,
    consumer_options: ConsumerOptions,
    reconcile_options: ReconcileOptions,
    producer: rdkafka::producer::FutureProducer,
    relay_options: RelayOptions,
    stats: Arc<Stats>,
    relay_stats: Arc<RelayStats>,
    health: Arc<Health>,
    health_listener: TcpListener,
    health_port: u16,
}

impl Application {
    /// Check Postgres answers, make sure both topics exist, bind the health port.
    pub async fn build(settings: Settings) -> Result<Application, ConsumerError> {
        roster_platform::prometheus::spawn_upkeep();
        let database_url = settings.database.url_for(APPLICATION_NAME);
        drop(roster_store::connect(&database_url, 1)?);
        let k = &settings.kafka;
        kafka::ensure_topic(k, &k.changes_topic, k.partitions).await?;
        kafka::ensure_topic(k, &k.notifications_topic, k.partitions).await?;
        let base_url = settings.gateway.base_url(settings.gateway.port);
        let r = &settings.role_mapper;
        let health_listener = TcpListener::bind((r.health_host.as_str(), r.health_port))
            .map_err(|e| ConsumerError::Worker(format!("binding the health port: {e}")))?;
        let health_port =
            health_listener.local_addr().map_err(|e| ConsumerError::Worker(e.to_string()))?.port();
        let max_notification_bytes = k.max_message_bytes.saturating_sub(RECORD_OVERHEAD_BYTES);
        Ok(Application {
            consumer_config: {
                let mut config = kafka::member_config(k, &k.role_mapper_group);
                config.set("fetch.wait.max.ms", r.fetch_wait_max_ms.to_string());
                config
            },
            consumer_options: ConsumerOptions {
                group: k.role_mapper_group.clone(),
                topic: k.changes_topic.clone(),
                max_batch: r.max_batch,
                linger: Duration::from_millis(r.batch_linger_ms),
                retry_initial: Duration::from_millis(r.retry_initial_ms),
                retry_max: Duration::from_millis(r.retry_max_ms),
                database_url: database_url.clone(),
                local_stack: settings.database.is_local(),
                park: settings.kafka.park(),
            },
            reconcile_options: ReconcileOptions {
                projector_group: k.projector_group.clone(),
                topic: k.changes_topic.clone(),
                base_url,
                max_notification_bytes,
            },
            producer: kafka::producer(k)?,
            relay_options: RelayOptions {
                database_url,
                topic: k.notifications_topic.clone(),
                poll: Duration::from_millis(r.relay_poll_ms),
                batch: r.relay_batch,
                retry_initial: Duration::from_millis(r.retry_initial_ms),
                retry_max: Duration::from_millis(r.retry_max_ms),
                stuck_after: Duration::from_millis(r.stuck_after_ms),
                max_notification_bytes,
            },
            stats: Arc::default(),
            relay_stats: Arc::default(),
            health: Health::new("roster-role-mapper", Duration::from_millis(r.stuck_after_ms)),
            health_listener,
            health_port,
        })
    }

    /// What the reconciling consumer has done so far.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// What the relay has published so far.
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        self.relay_stats.clone()
    }

    /// Where each partition (and the relay) stands (what `/health/ready` shows).
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The port `/health/live` and `/health/ready` are served on.
    pub fn health_port(&self) -> u16 {
        self.health_port
    }

    /// Reconcile and relay until `shutdown`; an error means the role-mapper must not go on.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), ConsumerError> {
        let server = health::serve(self.health_listener, self.health.clone())
            .map_err(|e| ConsumerError::Worker(format!("serving the health endpoints: {e}")))?;
        let server_handle = server.handle();
        let serving = tokio::spawn(server);
        let wake = Arc::new(Notify::new());
        // The relay stops with the process, or when the consumer fails.
        let relay_shutdown = Shutdown::new();
        let listener = tokio::spawn(relay::listen_for_appends(
            self.relay_options.database_url.clone(),
            wake.clone(),
            self.relay_options.retry_max,
            relay_shutdown.clone(),
        ));
        let relay = tokio::spawn(relay::run(
            self.producer,
            self.relay_options,
            wake.clone(),
            self.relay_stats,
            self.health.clone(),
            relay_shutdown.clone(),
        ));
        {
            let shutdown = shutdown.clone();
            let relay_shutdown = relay_shutdown.clone();
            tokio::spawn(async move {
                shutdown.wait().await;
                relay_shutdown.trigger();
            });
        }
        let span = tracing::Span::current();
        let mut reconciler = Reconciler::new(self.reconcile_options, wake);
        let health = self.health;
        let consumed = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            consumer::run(
                self.consumer_config,
                self.consumer_options,
                &mut reconciler,
                self.stats,
                health,
                shutdown,
            )
        })
        .await
        .map_err(|e| ConsumerError::Worker(e.to_string()));
        relay_shutdown.trigger();
        if let Err(error) = relay.await {
            tracing::error!(%error, "the relay task failed");
        }
        if let Err(error) = listener.await {
            tracing::error!(%error, "the relay's listener task failed");
        }
        server_handle.stop(true).await;
        let _ = serving.await;
        consumed?
    }
}
