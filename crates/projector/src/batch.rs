//! The projector's side of the consume loop: apply each event of a partition's batch, record its
//! outcome, and `NOTIFY` the outcomes to the gateways waiting for them, all in the batch's
//! transaction. An event whose data Postgres refuses becomes a rejected outcome ([`refusal`]).

use chrono::Utc;
use roster_events::DecodedChange;
use roster_platform::consumer::{BatchHandler, Record};
use roster_store::outcomes::{self, OutcomeRow};
use roster_store::{PgConnection, StoreError};
use uuid::Uuid;

use crate::{apply, refusal};

/// Folds batches of change events into Postgres.
#[derive(Debug, Default)]
pub struct Projection {
    /// The rejected outcomes of the batch being applied, `(status, scimType)`: counted in
    /// `roster_outcomes_rejected_total` once it commits.
    rejected: Vec<(i16, String)>,
}

impl Projection {
    fn note_rejections(&mut self, rows: &[OutcomeRow]) {
        for row in rows.iter().filter(|r| r.status >= 400) {
            let scim_type = row
                .body
                .as_ref()
                .and_then(|b| b.get("scimType"))
                .and_then(|t| t.as_str())
                .unwrap_or("none");
            self.rejected.push((row.status, scim_type.to_string()));
        }
    }
}

impl BatchHandler for Projection {
    fn committed(&mut self) {
        for (status, scim_type) in self.rejected.drain(..) {
            metrics::counter!(
                "roster_outcomes_rejected_total",
                "status" => status.to_string(), "scim_type" => scim_type
            )
            .increment(1);
        }
    }

    fn rolled_back(&mut self) {
        self.rejected.clear();
    }

    fn apply(&mut self, conn: &mut PgConnection, records: &[&Record]) -> Result<(), StoreError> {
        let mut outcome_rows = Vec::with_capacity(records.len());
        let mut cache = apply::BatchCache::default();
        // A run of consecutive user creates, applied with one insert when the run ends.
        let mut creates: Vec<(&Record, &DecodedChange)> = Vec::new();
        for record in records {
            if let Ok(event) = &record.event
                && apply::is_user_create(event)
            {
                creates.push((record, event));
                continue;
            }
            apply_creates(conn, &mut cache, &mut creates, &mut outcome_rows)?;
            if let Some(outcome) = apply_record(conn, &mut cache, record)? {
                outcome_rows.push(outcome);
            }
        }
        apply_creates(conn, &mut cache, &mut creates, &mut outcome_rows)?;
        outcomes::insert_all(conn, &outcome_rows)?;
        self.note_rejections(&outcome_rows);
        // Erased users and deleted directories leave no personal data in the outcomes (the
        // resources their writes answered with), this batch's included.
        for (directory, user) in &cache.erased {
            outcomes::forget_resource(conn, *directory, *user)?;
        }
        for directory in &cache.deleted_directories {
            outcomes::forget_directory(conn, *directory)?;
        }
        let ids: Vec<Uuid> = outcome_rows.iter().map(|o| o.event_id).collect();
        outcomes::notify(conn, &ids)?;
        Ok(())
    }

    /// Postgres refused the event's data: it becomes a rejected outcome (400 `invalidValue`
    /// naming the attribute), which answers the request waiting for it; the role-mapper finds
    /// nothing changed.
    fn refuse(
        &mut self,
        conn: &mut PgConnection,
        record: &Record,
        error: &StoreError,
    ) -> Result<(), StoreError> {
        let Ok(event) = &record.event else { return Ok(()) };
        let rejection = refusal::rejection(event, error);
        tracing::warn!(
            kafka.partition = record.partition,
            kafka.offset = record.offset,
            event.id = %event.event_id,
            directory.id = %event.directory_id,
            status = rejection.status,
            detail = %rejection.detail,
            "event rejected: Postgres refused its data"
        );
        let row = outcome(record, event, apply::Decision::rejected(rejection));
        outcomes::insert_all(conn, std::slice::from_ref(&row))?;
        self.note_rejections(std::slice::from_ref(&row));
        outcomes::notify(conn, &[event.event_id])?;
        Ok(())
    }
}

/// Apply (and empty) a run of user creates, pushing their outcomes in order.
fn apply_creates(
    conn: &mut PgConnection,
    cache: &mut apply::BatchCache,
    creates: &mut Vec<(&Record, &DecodedChange)>,
    outcomes: &mut Vec<OutcomeRow>,
) -> Result<(), StoreError> {
    if creates.is_empty() {
        return Ok(());
    }
    let events: Vec<&DecodedChange> = creates.iter().map(|(_, event)| *event).collect();
    let decisions = apply::create_users(conn, cache, &events)?;
    for ((record, event), decision) in creates.drain(..).zip(decisions) {
        outcomes.push(outcome(record, event, decision));
    }
    Ok(())
}

/// Apply one record; returns its outcome (None for an undecodable one).
fn apply_record(
    conn: &mut PgConnection,
    cache: &mut apply::BatchCache,
    record: &Record,
) -> Result<Option<OutcomeRow>, StoreError> {
    let event = match &record.event {
        Ok(event) => event,
        Err(error) => {
            // Poison (not protobuf, or ids that are not UUIDs): it can never be applied, by any
            // version. Recorded in the log and skipped.
            tracing::error!(kafka.partition = record.partition, kafka.offset = record.offset, %error, "undecodable change event skipped");
            return Ok(None);
        }
    };
    let span = tracing::debug_span!("apply", event.id = %event.event_id, directory.id = %event.directory_id);
    let _entered = span.enter();
    let decision = apply::apply(conn, cache, event)?;
    Ok(Some(outcome(record, event, decision)))
}

fn outcome(record: &Record, event: &DecodedChange, decision: apply::Decision) -> OutcomeRow {
    OutcomeRow {
        event_id: event.event_id,
        directory_id: event.directory_id,
        kafka_partition: record.partition,
        kafka_offset: record.offset,
        status: decision.status as i16,
        resource_id: decision.resource_id,
        body: decision.body,
        applied_at: Utc::now(),
    }
}
