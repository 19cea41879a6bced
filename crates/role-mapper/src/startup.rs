//! Building and running the role-mapper: the reconciling consumer on a thread of its own, and
//! the relay as a task.

use std::sync::Arc;
use std::time::Duration;

use roster_platform::consumer::{self, ConsumerError, ConsumerOptions, Stats};
use roster_platform::{Settings, Shutdown, kafka};
use roster_store::PgPool;
use tokio::sync::Notify;

use crate::reconcile::{ReconcileOptions, Reconciler};
use crate::relay::{self, RelayOptions, RelayStats};

pub struct Application {
    pool: PgPool,
    consumer_config: rdkafka::ClientConfig,
    consumer_options: ConsumerOptions,
    reconcile_options: ReconcileOptions,
    producer: rdkafka::producer::FutureProducer,
    relay_options: RelayOptions,
    stats: Arc<Stats>,
    relay_stats: Arc<RelayStats>,
}

impl Application {
    /// Connect to Postgres and make sure both topics exist.
    pub async fn build(settings: Settings) -> Result<Application, ConsumerError> {
        let pool = roster_store::connect(&settings.database.url, 4)?;
        let k = &settings.kafka;
        kafka::ensure_topic(k, &k.changes_topic, k.partitions).await?;
        kafka::ensure_topic(k, &k.notifications_topic, k.partitions).await?;
        let base_url = settings.gateway.base_url(settings.gateway.port);
        Ok(Application {
            pool,
            consumer_config: kafka::consumer_config(k, &k.role_mapper_group),
            consumer_options: ConsumerOptions {
                group: k.role_mapper_group.clone(),
                topic: k.changes_topic.clone(),
                max_batch: settings.role_mapper.max_batch,
                linger: Duration::from_millis(settings.role_mapper.batch_linger_ms),
            },
            reconcile_options: ReconcileOptions {
                projector_group: k.projector_group.clone(),
                topic: k.changes_topic.clone(),
                base_url,
            },
            producer: kafka::producer(k)?,
            relay_options: RelayOptions {
                database_url: settings.database.url.clone(),
                topic: k.notifications_topic.clone(),
                poll: Duration::from_millis(settings.role_mapper.relay_poll_ms),
                batch: settings.role_mapper.relay_batch,
            },
            stats: Arc::default(),
            relay_stats: Arc::default(),
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

    /// Reconcile and relay until `shutdown`; an error means the role-mapper must not go on.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), ConsumerError> {
        let wake = Arc::new(Notify::new());
        // The relay stops with the process, or when the consumer fails.
        let relay_shutdown = Shutdown::new();
        let relay = tokio::spawn(relay::run(
            self.producer,
            self.relay_options,
            wake.clone(),
            self.relay_stats,
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
        let pool = self.pool;
        let mut reconciler = Reconciler::new(pool.clone(), self.reconcile_options, wake);
        let consumed = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            consumer::run(
                self.consumer_config,
                pool,
                self.consumer_options,
                &mut reconciler,
                self.stats,
                shutdown,
            )
        })
        .await
        .map_err(|e| ConsumerError::Worker(e.to_string()))?;
        relay_shutdown.trigger();
        if let Err(error) = relay.await {
            tracing::error!(%error, "the relay task failed");
        }
        consumed
    }
}
