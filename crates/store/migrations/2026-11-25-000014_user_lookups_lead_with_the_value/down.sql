ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (directory_id, id);
DROP INDEX users_user_name_key;
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
DROP INDEX users_external_id;
CREATE INDEX users_external_id ON users (directory_id, external_id);
DROP INDEX users_display_name_fold;
CREATE INDEX users_display_name_fold ON users (directory_id, lower(display_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
