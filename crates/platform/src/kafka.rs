//! Kafka clients configured the one way Roster uses them.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use secrecy::ExposeSecret;

use crate::settings::KafkaSettings;

/// The CloudEvents binary-mode headers of a notification's record (`ce_id`, `ce_type`, …), read
/// from its protobuf payload: what the relay and `roster replay` publish with. A payload that
/// does not decode gets no headers (the error says why).
pub fn notification_headers(
    payload: &[u8],
) -> Result<rdkafka::message::OwnedHeaders, prost::DecodeError> {
    use rdkafka::message::{Header, OwnedHeaders};
    let decoded = roster_events::notification::decode_notification(payload)?;
    Ok(roster_events::notification::cloudevent_headers(&decoded).into_iter().fold(
        OwnedHeaders::new(),
        |headers, (name, value)| {
            headers.insert(Header { key: name, value: Some(value.as_bytes()) })
        },
    ))
}

/// What every client of Roster shares: the brokers and how to reach them (`kafka.security_protocol`
/// and, with it, TLS and SASL). librdkafka is built with OpenSSL (rdkafka's `ssl` feature), so
/// `ssl`, `sasl_ssl` and the SCRAM mechanisms are available.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("security.protocol", settings.security_protocol.to_ascii_lowercase());
    if settings.uses_sasl() {
        config
            .set("sasl.mechanism", settings.sasl_mechanism.to_ascii_uppercase())
            .set("sasl.username", &settings.sasl_username)
            .set("sasl.password", settings.sasl_password.expose_secret());
    }
    if settings.uses_tls() && !settings.ssl_ca_location.is_empty() {
        config.set("ssl.ca.location", &settings.ssl_ca_location);
    }
    config
}

/// The producer of change events: idempotent (`acks=all`, no duplicates or reordering on
/// retry), and failing a send after `message_timeout_ms` so the caller can answer 503.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    client_config(settings)
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
    let mut config = client_config(settings);
    config
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
///
/// A client that may not create topics (a Kafka with ACLs, where the KafkaTopics of the
/// operators create them: production on Strimzi) is told so by the broker whether or not the
/// topic exists; that is not an error here: a missing topic then shows when the client uses it.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let new_topic =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(settings.replication_factor));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, RDKafkaErrorCode::TopicAuthorizationFailed)) => {
                tracing::info!(
                    kafka.topic = %name,
                    "not allowed to create the topic (ACLs): it must be created by the Kafka operators (KafkaTopic)"
                );
            }
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(kafka.topic = %name, error = %code, "could not create topic");
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rdkafka::producer::BaseProducer;
    use secrecy::SecretString;

    use super::*;
    use crate::Settings;

    fn settings() -> KafkaSettings {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        Settings::load_from(&dir).unwrap().kafka
    }

    #[test]
    fn plaintext_sets_no_credentials() {
        let config = consumer_config(&settings(), "g");
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        assert_eq!(config.get("sasl.mechanism"), None);
        assert_eq!(config.get("sasl.password"), None);
        assert_eq!(config.get("ssl.ca.location"), None);
    }

    /// TLS and SCRAM reach every client, and this build of librdkafka accepts them (it refuses
    /// `sasl_ssl` at creation when it was built without OpenSSL).
    #[test]
    fn tls_and_scram_are_passed_and_supported() {
        let mut k = settings();
        k.security_protocol = "SASL_SSL".into();
        k.sasl_mechanism = "scram-sha-512".into();
        k.sasl_username = "roster-gateway".into();
        k.sasl_password = SecretString::from("s3cret");
        // Nothing connects in this test: the brokers are never reached.
        k.brokers = "127.0.0.1:1".into();
        for config in [client_config(&k), consumer_config(&k, "g"), member_config(&k, "g")] {
            assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(config.get("sasl.username"), Some("roster-gateway"));
            assert_eq!(config.get("sasl.password"), Some("s3cret"));
        }
        let _producer = producer(&k).unwrap();
        let _consumer: BaseProducer = client_config(&k).create().unwrap();
        k.ssl_ca_location = "/nonexistent/ca.crt".into();
        assert_eq!(client_config(&k).get("ssl.ca.location"), Some("/nonexistent/ca.crt"));
        // librdkafka reads the CA file when the client is created: a wrong path fails at start.
        assert!(client_config(&k).create::<BaseProducer>().is_err());
    }
}
