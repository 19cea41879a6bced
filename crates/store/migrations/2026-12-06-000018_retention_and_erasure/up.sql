-- Retention and erasure (docs/designs/0007-retention-and-erasure.md): when a user is erased
-- (the directory's `erase` policy), the personal data kept about it outside the projection goes
-- too: the response bodies of its events' outcomes, and the payloads of its notifications in the
-- outbox (replaced by their ids-only form). These indexes find them without reading a
-- directory's whole history. Old rows of both are pruned after their retention.
CREATE INDEX event_outcomes_resource ON event_outcomes (directory_id, resource_id)
    WHERE resource_id IS NOT NULL;
CREATE INDEX notifications_subject ON notifications (directory_id, subject_id)
    WHERE subject_id IS NOT NULL;
CREATE INDEX event_outcomes_applied ON event_outcomes (applied_at);
CREATE INDEX notifications_published ON notifications (created_at) WHERE published_at IS NOT NULL;
