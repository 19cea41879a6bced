DROP TABLE consumer_offsets;
DROP TABLE event_outcomes;
