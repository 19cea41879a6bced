//! Publishing change events: the idempotent producer, keyed by directory so that a directory's
//! changes keep their order, and a send that returns only once the broker has acknowledged.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use roster_events::ChangeEvent;

use crate::error::ApiError;

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
}

impl Publisher {
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        Publisher { producer, topic }
    }

    /// Send `event` and wait for the broker's acknowledgement (`acks=all`). Any failure (broker
    /// unreachable past `message.timeout.ms`, local queue full, …) is a 503 with `Retry-After`:
    /// nothing was promised, so the client's retry is safe.
    pub async fn publish(&self, event: &ChangeEvent) -> Result<(i32, i64), ApiError> {
        let payload = roster_events::encode(event);
        let record = FutureRecord::to(&self.topic).key(&event.directory_id).payload(&payload);
        match self.producer.send(record, Timeout::After(Duration::from_secs(5))).await {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((error, _)) => {
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
