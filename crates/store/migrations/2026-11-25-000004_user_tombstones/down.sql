DELETE FROM users WHERE deleted_at IS NOT NULL;
DROP INDEX users_user_name_key;
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name));
ALTER TABLE users DROP COLUMN deleted_at;
