-- The control plane behind the admin API and the console (docs/designs/0006-control-plane.md):
-- SCIM token expiry and last use, stored admin tokens, the audit log and the provisioning log.

-- A SCIM token may expire (Entra quarantines a job whose token expires, so none does unless
-- asked); last_used_at is set by the gateway's provisioning-log writer, at most every few
-- hundred milliseconds per token.
ALTER TABLE scim_tokens
    ADD COLUMN expires_at    timestamptz,
    ADD COLUMN last_used_at  timestamptz;

-- Admin API tokens: the JWT's `jti` is the id; the token itself is shown once and never stored.
-- A tenant admin's token dies with its tenant.
CREATE TABLE admin_tokens (
    id           uuid        PRIMARY KEY,
    subject      text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('operator', 'tenant')),
    tenant_id    uuid        REFERENCES tenants (id) ON DELETE CASCADE,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    CHECK ((scope = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE INDEX admin_tokens_tenant ON admin_tokens (tenant_id, created_at);

-- Every change made through the admin API or the console: who, what, on which tenant and
-- directory. No foreign keys: the record outlives what it describes. `details` never holds a
-- secret.
CREATE TABLE audit_log (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text        NOT NULL,
    actor_token_id  uuid,
    action          text        NOT NULL,
    tenant_id       uuid,
    directory_id    uuid,
    target_id       text,
    details         jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_directory ON audit_log (directory_id, id);

-- One row per SCIM request of an existing directory, written off the request path in batches
-- (crates/gateway/src/request_log.rs) and pruned after gateway.provisioning_log_retention_days.
-- Newest first by id within a directory.
CREATE TABLE provisioning_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    directory_id   uuid        NOT NULL,
    at             timestamptz NOT NULL,
    method         text        NOT NULL,
    resource_type  text        NOT NULL,
    resource_id    text,
    resource_name  text,
    operation      text        NOT NULL,
    status         smallint    NOT NULL,
    scim_type      text,
    detail         text,
    latency_ms     integer     NOT NULL,
    request_id     text        NOT NULL,
    token_id       uuid,
    -- A failure Entra does not count towards its 40 % quarantine rule (a group member or a
    -- manager that does not resolve: docs/entra/behaviour.md §7.5).
    reference_failure  boolean NOT NULL DEFAULT false,
    -- A filtered lookup of one GUID: the shape of Entra's Test Connection and per-cycle probe.
    probe          boolean     NOT NULL DEFAULT false
);
CREATE INDEX provisioning_log_directory ON provisioning_log (directory_id, id);
CREATE INDEX provisioning_log_directory_time ON provisioning_log (directory_id, at);
CREATE INDEX provisioning_log_time ON provisioning_log (at);

-- The admin API's and the console's lists of a directory's users and groups: in name order,
-- by a case-insensitive prefix, a page at a time (keyset on the name and the id).
-- These indexes lead with directory_id, which SCIM lookups must never use: in a directory
-- Postgres has no statistics for, the planner would take `directory_id = $1` for a single row
-- and read the whole directory through them (000014 moved every lookup index off directory_id
-- for that reason). Their predicate names `user_name <> ''` (and `display_name <> ''`), which
-- no SCIM query states, so the planner can use them only for the lists, which state it (a
-- userName or displayName is never empty, so the lists lose nothing).
CREATE INDEX users_directory_name_order ON users (directory_id, (lower(user_name) COLLATE "C"), id)
    WHERE deleted_at IS NULL AND user_name <> '';
CREATE INDEX groups_directory_name_order ON groups (directory_id, (lower(display_name) COLLATE "C"), id)
    WHERE deleted_at IS NULL AND display_name <> '';
