-- Entra's lookups (userName, externalId, displayName, id equality) must not depend on table
-- statistics. With every index leading with directory_id, a directory the statistics have not
-- seen yet (a new tenant's initial sync; autovacuum not run since) is estimated at about one
-- row, and the planner may answer `userName eq` through any index on directory_id alone (the
-- primary key), filtering the whole directory: each lookup then costs O(directory), and an
-- initial sync goes quadratic. Leading with the looked-up value leaves one usable index per
-- lookup. (A directory's full listing, which Entra never asks for, scans and sorts.)
ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (id, directory_id);
DROP INDEX users_user_name_key;
CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name COLLATE "und-x-icu"), directory_id)
    WHERE deleted_at IS NULL;
DROP INDEX users_external_id;
CREATE INDEX users_external_id ON users (external_id, directory_id);
DROP INDEX users_display_name_fold;
CREATE INDEX users_display_name_fold ON users (lower(display_name COLLATE "und-x-icu"), directory_id)
    WHERE deleted_at IS NULL;
