//! Kafka clients configured the one way Roster uses them.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use crate::settings::KafkaSettings;

/// The producer of change events: idempotent (`acks=all`, no duplicates or reordering on
/// retry), and failing a send after `message_timeout_ms` so the caller can answer 503.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", settings.message_timeout_ms.to_string())
        .set("message.max.bytes", settings.max_message_bytes.to_string())
        .set("linger.ms", "1")
        .set("socket.keepalive.enable", "true")
        .create()
}

/// [`consumer_config`] for a long-lived member of a consumer group (the projector, the
/// role-mapper): a static member named `<kafka.group_instance_id>-<group>` when that setting is
/// set (see [`KafkaSettings::group_instance_id`]).
pub fn member_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = consumer_config(settings, group);
    if !settings.group_instance_id.is_empty() {
        config.set("group.instance.id", format!("{}-{group}", settings.group_instance_id));
    }
    config
}

/// A consumer configuration whose positions are managed by the caller (stored in Postgres):
/// no auto-commit, no auto offset store.
pub fn consumer_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("socket.keepalive.enable", "true");
    config
}

/// Create `topic` with `partitions` partitions unless it exists.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &settings.brokers).create()?;
    let new_topic =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(settings.replication_factor));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(kafka.topic = %name, error = %code, "could not create topic");
                });
            }
        }
    }
    Ok(())
}
