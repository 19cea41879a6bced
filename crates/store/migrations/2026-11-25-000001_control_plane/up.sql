-- Tenants (a customer) own directories (one SCIM endpoint each); a directory has secret tokens.

CREATE TABLE tenants (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_name_key ON tenants (lower(name));

CREATE TABLE directories (
    id                  uuid        PRIMARY KEY,
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text        NOT NULL,
    -- What DELETE /Users/{id} does: keep a deprovisioned tombstone, or erase the row.
    deprovision_policy  text        NOT NULL DEFAULT 'tombstone'
                                    CHECK (deprovision_policy IN ('tombstone', 'erase')),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX directories_tenant_name_key ON directories (tenant_id, lower(name));

-- Only the token id (the JWT `jti`) and a SHA-256 of the whole token are stored: the token
-- itself is shown once, when it is issued.
CREATE TABLE scim_tokens (
    id            uuid        PRIMARY KEY,
    directory_id  uuid        NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    token_sha256  bytea       NOT NULL,
    description   text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX scim_tokens_directory ON scim_tokens (directory_id);
