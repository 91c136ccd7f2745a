-- Pub/Sub delivers at least once: a message id claimed here has had its effect, and a
-- redelivery of it changes nothing.
CREATE TABLE processed_messages (
    message_id   text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Messages that can never succeed (not base64, not UTF-8, not JSON, invalid fields, another
-- event type), kept with the reason instead of being redelivered forever or dropped.
CREATE TABLE dead_letters (
    message_id  text PRIMARY KEY,
    payload     bytea NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb,
    reason      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
