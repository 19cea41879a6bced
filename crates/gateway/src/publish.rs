//! Publishing change events: the idempotent producer, keyed by directory so that a directory's
//! changes keep their order, and a send that returns only once the broker has acknowledged.
//!
//! An event larger than the broker takes is refused before it is sent: 413, never the 503 the
//! producer's own refusal would give (a client retries a 503 forever). A body within
//! `gateway.max_body_bytes` can still grow past it when re-serialised (`9e15` is printed
//! `9000000000000000.0`).

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use roster_events::ChangeEvent;
use roster_scim::ScimError;

use crate::error::ApiError;

/// What a record adds to its key and value in a Kafka produce request (the record batch header
/// is 61 bytes, a record's own header at most 21), with room to spare.
pub const RECORD_OVERHEAD_BYTES: usize = 512;

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
    /// Largest key plus value sent: `kafka.max_message_bytes` less [`RECORD_OVERHEAD_BYTES`].
    max_event_bytes: usize,
}

impl Publisher {
    /// A publisher to `topic`, whose records may take `max_message_bytes` (the producer's
    /// `message.max.bytes`).
    pub fn new(producer: FutureProducer, topic: String, max_message_bytes: usize) -> Self {
        let max_event_bytes = max_message_bytes.saturating_sub(RECORD_OVERHEAD_BYTES);
        Publisher { producer, topic, max_event_bytes }
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
        let sent = self.producer.send(record, Timeout::After(Duration::from_secs(5))).await;
        metrics::histogram!("roster_produce_duration_seconds").record(started.elapsed());
        match sent {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((error, _)) => {
                let kind = error
                    .rdkafka_error_code()
                    .map_or("other".to_string(), |code| format!("{code:?}"));
                metrics::counter!("roster_produce_errors_total", "kind" => kind).increment(1);
                tracing::warn!(event.id = %event.event_id, error = %error, "could not publish change event");
                Err(ApiError::Unavailable {
                    detail: "the change log is unavailable; nothing was changed, retry later"
                        .into(),
                    retry_after_secs: 10,
                })
            }
        }
    }
}
