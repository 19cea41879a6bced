ALTER TABLE group_members DROP CONSTRAINT group_members_directory_id_group_id_fkey;
ALTER TABLE groups DROP CONSTRAINT groups_pkey;
ALTER TABLE groups ADD PRIMARY KEY (directory_id, id);
ALTER TABLE group_members ADD CONSTRAINT group_members_directory_id_group_id_fkey
    FOREIGN KEY (directory_id, group_id) REFERENCES groups (directory_id, id) ON DELETE CASCADE;
DROP INDEX groups_display_name_key;
CREATE UNIQUE INDEX groups_display_name_key ON groups (directory_id, lower(display_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
DROP INDEX groups_external_id;
CREATE INDEX groups_external_id ON groups (directory_id, external_id);
