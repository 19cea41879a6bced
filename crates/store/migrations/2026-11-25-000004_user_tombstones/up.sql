-- Deprovisioned users kept as tombstones (the directory's `tombstone` policy): they answer 404,
-- free their userName, and keep their history for notifications and audit.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
DROP INDEX users_user_name_key;
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name))
    WHERE deleted_at IS NULL;
