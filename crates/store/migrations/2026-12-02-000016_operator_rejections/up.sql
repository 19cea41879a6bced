-- Events an operator rejected with `roster log reject`: the escape hatch for a partition that a
-- consumer cannot get past (an event of a change type this version does not know, or one whose
-- failure is not understood). The projector and the role-mapper look here for the events of each
-- batch, in the batch's transaction, and move past a rejected one without applying it; the
-- projector's side also gets a rejected outcome in event_outcomes (written with this row). The
-- row is the audit: who, when and why.
CREATE TABLE operator_rejections (
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    event_id         uuid        NOT NULL,
    directory_id     uuid        NOT NULL,
    actor            text        NOT NULL,
    reason           text        NOT NULL,
    rejected_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
