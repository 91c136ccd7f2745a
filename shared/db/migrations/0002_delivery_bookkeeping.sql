-- Pub/Sub delivers at least once: a delivery key (the message id and its publish time)
-- claimed here has had its effect, and a redelivery of it changes nothing. The publish time
-- tells apart the ids the Pub/Sub emulator reuses after a restart.
CREATE TABLE processed_messages (
    delivery_key text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Messages that can never succeed (not base64, not UTF-8, not JSON, invalid fields, another
-- event type), kept with the reason instead of being redelivered forever or dropped.
CREATE TABLE dead_letters (
    delivery_key text PRIMARY KEY,
    message_id   text NOT NULL,
    publish_time timestamptz,
    payload      bytea NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    reason       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
