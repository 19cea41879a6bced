-- What became of each change event: applied (2xx, with the response body) or rejected
-- (4xx, with the SCIM error). The gateway answers the waiting request from this row.
CREATE TABLE event_outcomes (
    event_id      uuid        PRIMARY KEY,
    directory_id  uuid        NOT NULL,
    kafka_partition integer   NOT NULL,
    kafka_offset  bigint      NOT NULL,
    status        smallint    NOT NULL,
    resource_id   uuid,
    body          jsonb,
    applied_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_outcomes_directory ON event_outcomes (directory_id, applied_at);

-- Consumer positions, kept beside the data they describe and written in the same transaction:
-- `next_offset` is the offset of the next event to apply, `last_event_id` the id of the event at
-- `next_offset - 1`, used to detect a log that is not the one these offsets were taken from.
CREATE TABLE consumer_offsets (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    last_event_id    uuid,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);
