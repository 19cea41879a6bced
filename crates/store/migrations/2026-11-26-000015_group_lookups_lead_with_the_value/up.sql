-- Groups get what migration 000014 gave users: Entra's lookups (`id eq`, `externalId eq`,
-- `displayName eq`) must not depend on table statistics. With every index leading with
-- directory_id, a directory the statistics have not seen yet is estimated at about one row and
-- the planner may answer `id eq` or `externalId eq` through an index on directory_id alone,
-- filtering the whole directory. Leading with the looked-up value leaves one usable index per
-- lookup. The membership key keeps leading with the directory: it is only ever probed with
-- (directory_id, group_id), both known.
ALTER TABLE group_members DROP CONSTRAINT group_members_directory_id_group_id_fkey;
ALTER TABLE groups DROP CONSTRAINT groups_pkey;
ALTER TABLE groups ADD PRIMARY KEY (id, directory_id);
ALTER TABLE group_members ADD CONSTRAINT group_members_directory_id_group_id_fkey
    FOREIGN KEY (directory_id, group_id) REFERENCES groups (directory_id, id) ON DELETE CASCADE;
DROP INDEX groups_display_name_key;
CREATE UNIQUE INDEX groups_display_name_key ON groups (lower(display_name COLLATE "und-x-icu"), directory_id)
    WHERE deleted_at IS NULL;
DROP INDEX groups_external_id;
CREATE INDEX groups_external_id ON groups (external_id, directory_id);
