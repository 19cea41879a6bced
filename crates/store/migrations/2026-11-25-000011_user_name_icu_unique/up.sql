-- One case folding for userName everywhere: the uniqueness rule and the filters both fold with
-- ICU (which agrees with Rust's to_lowercase), and the index is unique, so the planner uses it
-- for `userName eq` even before the table has statistics.
DROP INDEX users_user_name_key;
DROP INDEX users_user_name_fold;
CREATE UNIQUE INDEX users_user_name_key ON users (directory_id, lower(user_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
