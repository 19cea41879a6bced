-- Role mapping and downstream notifications (DESIGN.md §3).

-- A directory's role-mapping rules, every version kept. Written by the projector when it applies
-- a MappingRulesChanged event, so that rules are ordered with the provisioning they affect; the
-- current rules are the highest version.
CREATE TABLE mapping_rules (
    directory_id  uuid        NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    version       bigint      NOT NULL,
    rules         jsonb       NOT NULL,
    event_id      uuid        NOT NULL,
    changed_at    timestamptz NOT NULL,
    PRIMARY KEY (directory_id, version)
);

-- The role-mapper's memory of what it last notified: the product view of each user and group
-- (the serde form of roster.notifications.v1.ProductUser / ProductGroup) and the group
-- memberships. The next view is compared with these to decide what to notify. No foreign keys:
-- they outlive the rows they describe until the role-mapper has notified their deletion.
CREATE TABLE notified_users (
    directory_id  uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    view          jsonb       NOT NULL,
    PRIMARY KEY (directory_id, user_id)
);

CREATE TABLE notified_groups (
    directory_id  uuid        NOT NULL,
    group_id      uuid        NOT NULL,
    view          jsonb       NOT NULL,
    PRIMARY KEY (directory_id, group_id)
);

CREATE TABLE notified_group_members (
    directory_id  uuid        NOT NULL,
    group_id      uuid        NOT NULL,
    member_id     uuid        NOT NULL,
    member_kind   text        NOT NULL CHECK (member_kind IN ('User', 'Group')),
    PRIMARY KEY (directory_id, group_id, member_id)
);
CREATE INDEX notified_group_members_member ON notified_group_members (directory_id, member_id);

-- The outbox: every notification, in a gap-free sequence per directory, kept after it is
-- published (the Events API replays from it). `position` orders the relay across directories.
CREATE TABLE notifications (
    directory_id    uuid        NOT NULL,
    sequence        bigint      NOT NULL,
    id              uuid        NOT NULL UNIQUE,
    position        bigint      GENERATED ALWAYS AS IDENTITY,
    type            text        NOT NULL,
    subject_id      uuid,
    cause_event_id  uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    -- The protobuf roster.notifications.v1.Notification, exactly as published.
    payload         bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    PRIMARY KEY (directory_id, sequence)
);
CREATE INDEX notifications_unpublished ON notifications (position) WHERE published_at IS NULL;

-- The last sequence number given out per directory (locked by the writer while appending).
CREATE TABLE notification_sequences (
    directory_id   uuid        PRIMARY KEY,
    last_sequence  bigint      NOT NULL
);
