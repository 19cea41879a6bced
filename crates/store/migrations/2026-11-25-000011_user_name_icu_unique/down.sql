DROP INDEX users_user_name_key;
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name))
    WHERE deleted_at IS NULL;
CREATE INDEX users_user_name_fold ON users (directory_id, lower(user_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
