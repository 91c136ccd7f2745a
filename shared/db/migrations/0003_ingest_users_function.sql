-- Writes a batch of users carried by Pub/Sub messages (named by their delivery keys) in one call, so a batch costs one round
-- trip and one (implicit) transaction. For each message it returns the user id it stored, or
-- NULL if the message had been processed before (a redelivery: nothing changes).
--   * each message id is claimed in processed_messages exactly once;
--   * explicit ids are inserted or updated, the last message of the batch winning, in id
--     order (so concurrent batches cannot deadlock), and move the id sequence past them;
--   * messages without an id get fresh sequence values; a value that a concurrent writer has
--     just taken explicitly is skipped and drawn again.
-- The caller passes distinct message ids.
CREATE FUNCTION ingest_users(message_ids text[], user_ids int4[], emails text[], names text[])
RETURNS TABLE (delivery_key text, user_id int4)
LANGUAGE plpgsql AS $$
DECLARE
    claimed text[];
    highest int4;
    new_messages text[];
    new_ids int4[];
    stored boolean[];
    fresh int4;
BEGIN
    WITH c AS (
        INSERT INTO processed_messages AS p (delivery_key)
        SELECT unnest(message_ids)
        ON CONFLICT ON CONSTRAINT processed_messages_pkey DO NOTHING
        RETURNING p.delivery_key
    )
    SELECT coalesce(array_agg(c.delivery_key), '{}') INTO claimed FROM c;

    WITH todo AS (
        SELECT DISTINCT ON (t.user_id) t.user_id, t.email, t.name
        FROM unnest(message_ids, user_ids, emails, names) WITH ORDINALITY AS t(message_id, user_id, email, name, ord)
        JOIN unnest(claimed) AS c(message_id) ON c.message_id = t.message_id
        WHERE t.user_id IS NOT NULL
        ORDER BY t.user_id, t.ord DESC
    ), upserted AS (
        INSERT INTO users AS u (user_id, email, name)
        SELECT * FROM todo ORDER BY 1
        ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name
        RETURNING u.user_id
    )
    SELECT max(upserted.user_id) INTO highest FROM upserted;
    IF highest IS NOT NULL AND highest >= (SELECT s.last_value FROM users_generated_id_seq s) THEN
        PERFORM setval('users_generated_id_seq', highest);
    END IF;

    WITH todo AS MATERIALIZED (
        SELECT t.message_id, nextval('users_generated_id_seq')::int4 AS new_id, t.email, t.name
        FROM unnest(message_ids, user_ids, emails, names) AS t(message_id, user_id, email, name)
        JOIN unnest(claimed) AS c(message_id) ON c.message_id = t.message_id
        WHERE t.user_id IS NULL
    ), inserted AS (
        INSERT INTO users AS u (user_id, email, name)
        SELECT todo.new_id, todo.email, todo.name FROM todo
        ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING
        RETURNING u.user_id
    )
    SELECT array_agg(todo.message_id), array_agg(todo.new_id), array_agg(inserted.user_id IS NOT NULL)
    INTO new_messages, new_ids, stored
    FROM todo LEFT JOIN inserted ON inserted.user_id = todo.new_id;

    -- Values a concurrent writer took explicitly in the meantime: draw again, one by one.
    FOR i IN 1 .. coalesce(array_length(new_messages, 1), 0) LOOP
        CONTINUE WHEN stored[i];
        LOOP
            fresh := nextval('users_generated_id_seq');
            INSERT INTO users AS u (user_id, email, name)
            SELECT fresh, t.email, t.name
            FROM unnest(message_ids, emails, names) AS t(message_id, email, name)
            WHERE t.message_id = new_messages[i]
            ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING;
            EXIT WHEN FOUND;
        END LOOP;
        new_ids[i] := fresh;
    END LOOP;

    RETURN QUERY
    SELECT t.message_id, coalesce(g.new_id, CASE WHEN c.message_id IS NOT NULL THEN t.user_id END)
    FROM unnest(message_ids, user_ids) AS t(message_id, user_id)
    LEFT JOIN unnest(claimed) AS c(message_id) ON c.message_id = t.message_id
    LEFT JOIN unnest(new_messages, new_ids) AS g(message_id, new_id) ON g.message_id = t.message_id;
END
$$;
