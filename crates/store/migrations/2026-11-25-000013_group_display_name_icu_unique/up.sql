-- Group displayName folds like userName: with ICU (which agrees with Rust's to_lowercase), for
-- the uniqueness rule and for Entra's `displayName eq "…"` lookups alike, so that a name unique
-- to one is unique to the other (the database's libc `lower()` differs on some scripts).
DROP INDEX groups_display_name_key;
CREATE UNIQUE INDEX groups_display_name_key ON groups (directory_id, lower(display_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
