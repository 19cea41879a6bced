//! Building and running the projector.

use std::sync::Arc;
use std::time::Duration;

use roster_platform::consumer::{self, ConsumerError, ConsumerOptions, Stats};
use roster_platform::{Settings, Shutdown, kafka};
use roster_store::PgPool;

use crate::batch::Projection;

pub struct Application {
    stats: Arc<Stats>,
    pool: PgPool,
    config: rdkafka::ClientConfig,
    options: ConsumerOptions,
}

impl Application {
    /// Connect to Postgres and make sure the change topic exists.
    pub async fn build(settings: Settings) -> Result<Application, ConsumerError> {
        let pool = roster_store::connect(&settings.database.url, 4)?;
        kafka::ensure_topic(
            &settings.kafka,
            &settings.kafka.changes_topic,
            settings.kafka.partitions,
        )
        .await?;
        Ok(Application {
            stats: Arc::default(),
            pool,
            config: kafka::consumer_config(&settings.kafka, &settings.kafka.projector_group),
            options: ConsumerOptions {
                group: settings.kafka.projector_group.clone(),
                topic: settings.kafka.changes_topic.clone(),
                max_batch: settings.projector.max_batch,
                linger: Duration::from_millis(settings.projector.batch_linger_ms),
            },
        })
    }

    /// What this process has done so far.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Consume until `shutdown`; an error means the projector must not go on (see
    /// [`ConsumerError`]).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), ConsumerError> {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            consumer::run(
                self.config,
                self.pool,
                self.options,
                &mut Projection,
                self.stats,
                shutdown,
            )
        })
        .await
        .map_err(|e| ConsumerError::Worker(e.to_string()))?
    }
}
