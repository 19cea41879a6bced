//! Publishing change events: the idempotent producer, keyed by directory so that a directory's
//! changes keep their order, and a send that returns only once the broker has acknowledged.
//!
//! An event larger than the broker takes is refused before it is sent: 413, never the 503 the
//! producer's own refusal would give (a client retries a 503 forever). A body within
//! `gateway.max_body_bytes` can still grow past it when re-serialised (`9e15` is printed
//! `9000000000000000.0`).
//!
//! An idempotent producer can fail fatally (librdkafka: a broker answered with a sequence it
//! cannot reconcile, or fenced the producer id); every later send then fails at once. The
//! publisher replaces such a producer with a new one (a new producer id), so that one fatal
//! error costs the sends in flight (503, safe to retry) and not every write until a restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use roster_events::ChangeEvent;
use roster_platform::settings::KafkaSettings;
use roster_scim::ScimError;

use crate::error::ApiError;

/// What a record adds to its key and value in a Kafka produce request (the record batch header
/// is 61 bytes, a record's own header at most 21), with room to spare.
pub const RECORD_OVERHEAD_BYTES: usize = 512;

#[derive(Clone)]
pub struct Publisher {
    /// Replaced after a fatal error ([`Publisher::replace_if_fatal`]).
    producer: Arc<RwLock<FutureProducer>>,
    /// What a replacement is made from.
    settings: KafkaSettings,
    topic: String,
    /// Largest key plus value sent: `kafka.max_message_bytes` less [`RECORD_OVERHEAD_BYTES`].
    max_event_bytes: usize,
}

impl Publisher {
    /// A publisher to `settings.changes_topic` (records of at most `max_message_bytes`, the
    /// producer's `message.max.bytes`) with a producer made from `settings`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let producer = roster_platform::kafka::producer(settings)?;
        Ok(Publisher {
            producer: Arc::new(RwLock::new(producer)),
            settings: settings.clone(),
            topic: settings.changes_topic.clone(),
            max_event_bytes: settings.max_message_bytes.saturating_sub(RECORD_OVERHEAD_BYTES),
        })
    }

    fn current(&self) -> FutureProducer {
        // A poisoned lock still holds a producer: a panic elsewhere does not stop the writes.
        self.producer.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// After a failed send: if `failed` is in a fatal state (every send would fail) and is
    /// still the current producer, put a new one in its place. Returns whether it did.
    fn replace_if_fatal(&self, failed: &FutureProducer) -> bool {
        let Some((code, reason)) = failed.client().fatal_error() else { return false };
        let mut current = self.producer.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.client().native_ptr() != failed.client().native_ptr() {
            return false; // another request replaced it already
        }
        match roster_platform::kafka::producer(&self.settings) {
            Ok(fresh) => {
                tracing::error!(error = ?code, %reason, "the producer failed fatally; replaced by a new one");
                metrics::counter!("roster_producer_replaced_total").increment(1);
                *current = fresh;
                true
            }
            Err(error) => {
                tracing::error!(%error, "the producer failed fatally and a new one could not be made");
                false
            }
        }
    }

    /// Send `event` and wait for the broker's acknowledgement (`acks=all`). Any failure (broker
    /// unreachable past `message.timeout.ms`, local queue full, …) is a 503 with `Retry-After`:
    /// nothing was promised, so the client's retry is safe.
    ///
    /// An event larger than the broker takes is `413` and is not sent.
    pub async fn publish(&self, event: &ChangeEvent) -> Result<(i32, i64), ApiError> {
        let payload = roster_events::encode(event);
        let size = payload.len() + event.directory_id.len();
        if size > self.max_event_bytes {
            tracing::info!(event.id = %event.event_id, event.bytes = size, "change event too large for the change log");
            metrics::counter!("roster_produce_errors_total", "kind" => "too_large").increment(1);
            return Err(ApiError::Scim(ScimError::new(
                413,
                None,
                format!(
                    "the change is {size} bytes once encoded, more than the {} the change log \
                     takes; send fewer or smaller values",
                    self.max_event_bytes
                ),
            )));
        }
        let record = FutureRecord::to(&self.topic).key(&event.directory_id).payload(&payload);
        let started = std::time::Instant::now();
        let producer = self.current();
        let sent = producer.send(record, Timeout::After(Duration::from_secs(5))).await;
        metrics::histogram!("roster_produce_duration_seconds").record(started.elapsed());
        match sent {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((error, _)) => {
                let kind = error
                    .rdkafka_error_code()
                    .map_or("other".to_string(), |code| format!("{code:?}"));
                metrics::counter!("roster_produce_errors_total", "kind" => kind).increment(1);
                tracing::warn!(event.id = %event.event_id, error = %error, "could not publish change event");
                self.replace_if_fatal(&producer);
                Err(ApiError::Unavailable {
                    detail: "the change log is unavailable; nothing was changed, retry later"
                        .into(),
                    retry_after_secs: 10,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::Producer;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    use super::*;

    /// A publisher to librdkafka's in-process mock cluster, which can be told to answer a
    /// request with an error.
    fn publisher(cluster: &MockCluster<'_, impl rdkafka::producer::ProducerContext>) -> Publisher {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut settings = roster_platform::Settings::load_from(&dir).unwrap().kafka;
        settings.brokers = cluster.bootstrap_servers();
        settings.message_timeout_ms = 2_000;
        Publisher::new(&settings).unwrap()
    }

    fn event() -> ChangeEvent {
        ChangeEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            directory_id: uuid::Uuid::nil().to_string(),
            ..ChangeEvent::default()
        }
    }

    /// An idempotent producer refused its producer id (no `IdempotentWrite` permission on the
    /// cluster) is failed fatally by librdkafka: every send fails at once. The send that found
    /// it answers 503, the producer is replaced, and the next write goes through, without a
    /// restart.
    #[tokio::test]
    async fn a_producer_that_failed_fatally_is_replaced_and_writes_go_on() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.request_errors(
            RDKafkaApiKey::InitProducerId,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED],
        );
        let publisher = publisher(&cluster);
        let before = publisher.current();

        let error = publisher.publish(&event()).await.unwrap_err();
        assert!(matches!(error, ApiError::Unavailable { .. }), "{error:?}");
        assert!(before.client().fatal_error().is_some(), "the mock did not fail the producer");
        let after = publisher.current();
        assert_ne!(before.client().native_ptr(), after.client().native_ptr());

        publisher.publish(&event()).await.unwrap();
        assert!(publisher.current().client().fatal_error().is_none());
    }

    /// A send that failed for another reason (here the broker refused one produce request,
    /// which librdkafka retries) keeps the producer.
    #[tokio::test]
    async fn a_send_that_merely_failed_keeps_the_producer() {
        let cluster = MockCluster::new(1).unwrap();
        let publisher = publisher(&cluster);
        publisher.publish(&event()).await.unwrap();
        let before = publisher.current();
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS],
        );
        publisher.publish(&event()).await.unwrap();
        assert!(!publisher.replace_if_fatal(&before));
        assert_eq!(before.client().native_ptr(), publisher.current().client().native_ptr());
    }
}
