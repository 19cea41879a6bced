DROP INDEX notifications_published;
DROP INDEX event_outcomes_applied;
DROP INDEX notifications_subject;
DROP INDEX event_outcomes_resource;
