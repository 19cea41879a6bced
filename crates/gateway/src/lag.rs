//! The pipeline's lag, for `/health/ready`: per consumer group (the projector, the
//! role-mapper) and partition of the change topic, how many events the log holds beyond the
//! group's position stored in Postgres. The log end is read from the broker (partition
//! metadata and high watermarks), at most once per `gateway.pipeline_lag_cache_ms`.
//!
//! Lag is reported, never a reason to be unready: a gateway can still answer reads and take
//! writes while a consumer is behind (a write waiting too long for its outcome answers 503 on
//! its own), and taking gateways out of service would not make a consumer catch up. A stuck
//! partition shows on the consumer's own `/health/ready`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use roster_platform::Settings;
use roster_store::{PgPool, StoreError, offsets};
use serde_json::{Value, json};

/// How long one measurement may take before the probe answers without it (well within the
/// readiness probe's timeout, even with the broker gone).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct PipelineLag {
    consumer: Arc<BaseConsumer>,
    pool: PgPool,
    topic: String,
    groups: Vec<String>,
    ttl: Duration,
    cached: tokio::sync::Mutex<Option<(Instant, Value)>>,
}

impl PipelineLag {
    /// A reader of watermarks (it never joins a consumer group) and the groups to report.
    pub fn new(settings: &Settings, pool: PgPool) -> Result<PipelineLag, KafkaError> {
        let k = &settings.kafka;
        let consumer: BaseConsumer =
            roster_platform::kafka::consumer_config(k, "roster-gateway-lag")
                .set("allow.auto.create.topics", "false")
                .create()?;
        Ok(PipelineLag {
            consumer: Arc::new(consumer),
            pool,
            topic: k.changes_topic.clone(),
            groups: vec![k.projector_group.clone(), k.role_mapper_group.clone()],
            ttl: Duration::from_millis(settings.gateway.pipeline_lag_cache_ms),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The lag as last measured (measured again when older than the cache's lifetime): per
    /// group, the total and each partition's; or `{"error": …}` when it could not be measured.
    pub async fn snapshot(&self) -> Value {
        let mut cached = self.cached.lock().await;
        if let Some((at, value)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            let mut value = value.clone();
            value["ageMs"] = json!(at.elapsed().as_millis() as u64);
            return value;
        }
        let value = match tokio::time::timeout(MEASURE_TIMEOUT, self.measure()).await {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => json!({"topic": self.topic, "error": error}),
            Err(_) => json!({"topic": self.topic, "error": "the broker did not answer in time"}),
        };
        *cached = Some((Instant::now(), value.clone()));
        let mut value = value;
        value["ageMs"] = json!(0);
        value
    }

    async fn measure(&self) -> Result<Value, String> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let ends = tokio::task::spawn_blocking(move || -> Result<Vec<(i32, i64)>, KafkaError> {
            let timeout = Duration::from_millis(500);
            let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            partitions
                .into_iter()
                .map(|p| consumer.fetch_watermarks(&topic, p, timeout).map(|(_, high)| (p, high)))
                .collect()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("kafka: {e}"))?;
        let groups = self.groups.clone();
        let topic = self.topic.clone();
        let stored = roster_store::run_read(&self.pool, move |conn| {
            groups
                .iter()
                .map(|g| offsets::load(conn, g, &topic).map(|p| (g.clone(), p)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::from)
        })
        .await
        .map_err(|e: StoreError| format!("postgres: {e}"))?;
        let log_end: i64 = ends.iter().map(|(_, high)| high).sum();
        let mut groups = serde_json::Map::new();
        for (group, positions) in stored {
            let mut total = 0;
            let mut partitions = serde_json::Map::new();
            for (partition, high) in &ends {
                let next = positions
                    .iter()
                    .find(|p| p.partition == *partition)
                    .map_or(0, |p| p.next_offset);
                let lag = (high - next).max(0);
                total += lag;
                partitions.insert(partition.to_string(), json!(lag));
            }
            groups.insert(group, json!({"lag": total, "partitions": partitions}));
        }
        Ok(json!({"topic": self.topic, "logEnd": log_end, "groups": groups}))
    }
}
