-- What an operator needs to act on dead letters (the dead-letters tool):
-- - a short number to name one by (a delivery key can be 256 bytes);
-- - for an event that was not a Pub/Sub message at all, its type: the payload is then the
--   event's whole data, not a message's, and a replay rebuilds that same event. NULL (every
--   letter kept before this migration, and the usual case) means a Pub/Sub message's data;
-- - when a replay last failed (the reason then says why).
ALTER TABLE dead_letters
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN event_type text,
    ADD COLUMN replay_failed_at timestamptz;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_id_key UNIQUE (id);
-- Listing and purging by age.
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
