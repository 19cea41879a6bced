-- The projection of SCIM groups, and membership in its own table: groups of 10,000s of members
-- are read and changed without loading or rewriting a members array.
CREATE TABLE groups (
    directory_id   uuid        NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    id             uuid        NOT NULL,
    display_name   text        NOT NULL,
    external_id    text,
    -- The canonical SCIM Group, without `id`, `meta` and `members`.
    resource       jsonb       NOT NULL,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    last_modified  timestamptz NOT NULL,
    deleted_at     timestamptz,
    PRIMARY KEY (directory_id, id)
);
-- displayName is unique per directory, case-insensitively: Entra matches groups on it.
CREATE UNIQUE INDEX groups_display_name_key ON groups (directory_id, lower(display_name))
    WHERE deleted_at IS NULL;
CREATE INDEX groups_external_id ON groups (directory_id, external_id);

CREATE TABLE group_members (
    directory_id  uuid        NOT NULL,
    group_id      uuid        NOT NULL,
    member_id     uuid        NOT NULL,
    member_kind   text        NOT NULL CHECK (member_kind IN ('User', 'Group')),
    -- When the member joined (the event time): the earliest-joined team is the primary one.
    added_at      timestamptz NOT NULL,
    PRIMARY KEY (directory_id, group_id, member_id),
    FOREIGN KEY (directory_id, group_id) REFERENCES groups (directory_id, id) ON DELETE CASCADE
);
-- A user's groups (deprovisioning, the role-mapper).
CREATE INDEX group_members_member ON group_members (directory_id, member_id);
