DROP INDEX groups_directory_name_order;
DROP INDEX users_directory_name_order;
DROP TABLE provisioning_log;
DROP TABLE audit_log;
DROP TABLE admin_tokens;
ALTER TABLE scim_tokens DROP COLUMN last_used_at, DROP COLUMN expires_at;
