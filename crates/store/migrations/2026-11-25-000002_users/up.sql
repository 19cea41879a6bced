-- The projection of SCIM users. Written only by the projector (the single writer of a
-- directory's partition); read by the gateway.
CREATE TABLE users (
    directory_id   uuid        NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    id             uuid        NOT NULL,
    user_name      text        NOT NULL,
    external_id    text,
    display_name   text,
    active         boolean     NOT NULL,
    -- The canonical SCIM resource, without `id` and `meta` (rebuilt from the columns).
    resource       jsonb       NOT NULL,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    last_modified  timestamptz NOT NULL,
    PRIMARY KEY (directory_id, id)
);
-- userName is unique per directory, compared case-insensitively (RFC 7643 §4.1.1, Entra matches on it).
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name));
CREATE INDEX users_external_id ON users (directory_id, external_id);
