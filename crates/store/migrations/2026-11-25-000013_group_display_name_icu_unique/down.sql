DROP INDEX groups_display_name_key;
CREATE UNIQUE INDEX groups_display_name_key ON groups (directory_id, lower(display_name))
    WHERE deleted_at IS NULL;
