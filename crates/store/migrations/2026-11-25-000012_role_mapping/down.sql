DROP TABLE notification_sequences;
DROP TABLE notifications;
DROP TABLE notified_group_members;
DROP TABLE notified_groups;
DROP TABLE notified_users;
DROP TABLE mapping_rules;
