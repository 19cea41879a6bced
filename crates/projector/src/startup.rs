//! Building and running the projector: the consumer on a thread of its own, and its health
//! endpoints.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use roster_platform::consumer::{self, ConsumerError, ConsumerOptions, Stats};
use roster_platform::health::{self, Health};
use roster_platform::{Settings, Shutdown, kafka};

use crate::batch::Projection;

/// The `application_name` of the projector's Postgres sessions.
pub const APPLICATION_NAME: &str = "roster-projector";

pub struct Application {
    stats: Arc<Stats>,
    health: Arc<Health>,
    health_listener: TcpListener,
    health_port: u16,
    config: rdkafka::ClientConfig,
    options: ConsumerOptions,
}

impl Application {
    /// Check Postgres answers, make sure the change topic exists, bind the health port.
    pub async fn build(settings: Settings) -> Result<Application, ConsumerError> {
        roster_platform::prometheus::spawn_upkeep();
        let database_url = settings.database.url_for(APPLICATION_NAME);
        // Fail at start, with a clear message, when the database cannot be reached.
        drop(roster_store::connect(&database_url, 1)?);
        kafka::ensure_topic(
            &settings.kafka,
            &settings.kafka.changes_topic,
            settings.kafka.partitions,
        )
        .await?;
        let p = &settings.projector;
        let health_listener = TcpListener::bind((p.health_host.as_str(), p.health_port))
            .map_err(|e| ConsumerError::Worker(format!("binding the health port: {e}")))?;
        let health_port =
            health_listener.local_addr().map_err(|e| ConsumerError::Worker(e.to_string()))?.port();
        Ok(Application {
            stats: Arc::default(),
            health: Health::new("roster-projector", Duration::from_millis(p.stuck_after_ms)),
            health_listener,
            health_port,
            config: kafka::member_config(&settings.kafka, &settings.kafka.projector_group),
            options: ConsumerOptions {
                group: settings.kafka.projector_group.clone(),
                topic: settings.kafka.changes_topic.clone(),
                max_batch: p.max_batch,
                linger: Duration::from_millis(p.batch_linger_ms),
                retry_initial: Duration::from_millis(p.retry_initial_ms),
                retry_max: Duration::from_millis(p.retry_max_ms),
                database_url,
                local_stack: settings.database.is_local(),
                park: settings.kafka.park(),
            },
        })
    }

    /// What this process has done so far.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Where each partition stands (what `/health/ready` shows).
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The port `/health/live` and `/health/ready` are served on.
    pub fn health_port(&self) -> u16 {
        self.health_port
    }

    /// Consume until `shutdown`; an error means the projector must not go on (see
    /// [`ConsumerError`]).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), ConsumerError> {
        let server = health::serve(self.health_listener, self.health.clone())
            .map_err(|e| ConsumerError::Worker(format!("serving the health endpoints: {e}")))?;
        let server_handle = server.handle();
        let serving = tokio::spawn(server);
        let span = tracing::Span::current();
        let health = self.health;
        let consumed = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            consumer::run(
                self.config,
                self.options,
                &mut Projection::default(),
                self.stats,
                health,
                shutdown,
            )
        })
        .await
        .map_err(|e| ConsumerError::Worker(e.to_string()));
        server_handle.stop(true).await;
        let _ = serving.await;
        consumed?
    }
}
