-- The newest update of a user wins, whatever order its messages arrive in. Pub/Sub without
-- ordering keys delivers out of order, and a redelivery after a 503 or a replayed dead letter
-- arrives late: until now the last to arrive won, so an update published at 12:00:00 that
-- arrived after the one published at 12:00:05 undid it.
--
-- A row now remembers the message that wrote it: when it was published (ingest passes its
-- publish time, or when ingest received it if it has none) and its delivery key. A message
-- changes a row only if it was published later, or at the same microsecond with a greater
-- delivery key (compared byte by byte): a total order, the same on every instance and every
-- replay. A row written before this migration, or by any other tool, has no publish time and
-- takes any message's update.
ALTER TABLE users
    ADD COLUMN published_at timestamptz,
    ADD COLUMN delivery_key text COLLATE "C";
COMMENT ON COLUMN users.published_at IS
    'when the message that wrote this row was published (or received, without a publish time); NULL: not written by ingest since migration 0011';
COMMENT ON COLUMN users.delivery_key IS
    'the delivery key of the message that wrote this row; breaks a tie of published_at';

-- write_user_messages (0005) with each message's publish time: per message, the id it stored,
-- NULL for a redelivery, 0 when another session holds the user's row (not claimed: retried),
-- and -id when the user's row holds a newer update (claimed, nothing changed). Within one
-- batch too, the newest update of a user is the one written.
CREATE FUNCTION write_newest_user_messages(
    message_ids text[], user_ids int4[], emails text[], names text[], published timestamptz[])
RETURNS int4[]
LANGUAGE plpgsql AS $$
DECLARE
    total   int := cardinality(message_ids);
    claimed text[];
    fresh   boolean[];  -- per message: claimed now (false: a redelivery, or held elsewhere)
    held    int4[] := '{}';  -- explicit ids whose rows another session holds
    won     text[] := '{}';  -- keys of the explicit-id messages whose update the rows now hold
    stored  int4[];     -- per message: the id it stored, NULL for a redelivery
    wanted  bigint;     -- generated ids to insert
    landed  int4[];     -- generated ids inserted
BEGIN
    IF array_remove(user_ids, NULL) = '{}' THEN
        -- The usual batch: new messages for new users. Plain inserts look each key up once
        -- where ON CONFLICT looks twice; a redelivery or a taken id undoes this block and
        -- the general way below runs instead.
        BEGIN
            INSERT INTO processed_messages (delivery_key) SELECT unnest(message_ids) ORDER BY 1;
            stored := ARRAY(SELECT nextval('users_generated_id_seq')::int4 FROM generate_series(1, total));
            INSERT INTO users (user_id, email, name, published_at, delivery_key)
            SELECT * FROM unnest(stored, emails, names, published, message_ids);
            RETURN stored;
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
    END IF;

    IF array_remove(user_ids, NULL) <> '{}' THEN
        -- Take the existing rows of the explicit ids now, in id order, skipping any that
        -- another session holds: those messages wait for a redelivery, nobody else does.
        held := ARRAY(
            SELECT u.user_id FROM users u WHERE u.user_id = ANY (user_ids)
            EXCEPT ALL
            SELECT l.user_id FROM (
                SELECT u.user_id FROM users u WHERE u.user_id = ANY (user_ids)
                ORDER BY u.user_id FOR UPDATE SKIP LOCKED) l);
    END IF;

    WITH c AS (
        INSERT INTO processed_messages AS p (delivery_key)
        SELECT t.key FROM unnest(message_ids, user_ids) AS t(key, user_id)
        WHERE t.user_id IS NULL OR t.user_id <> ALL (held)
        ORDER BY 1
        ON CONFLICT ON CONSTRAINT processed_messages_pkey DO NOTHING
        RETURNING p.delivery_key
    )
    SELECT array_agg(c.delivery_key) INTO claimed FROM c;
    IF claimed IS NULL THEN
        RETURN ARRAY(SELECT CASE WHEN t.user_id = ANY (held) THEN 0 END
                     FROM unnest(user_ids) WITH ORDINALITY AS t(user_id, ord) ORDER BY t.ord);
    ELSIF cardinality(claimed) = total THEN
        fresh := array_fill(true, ARRAY[total]);
    ELSE
        SELECT array_agg(c.message_id IS NOT NULL ORDER BY t.ord) INTO fresh
        FROM unnest(message_ids) WITH ORDINALITY AS t(message_id, ord)
        LEFT JOIN unnest(claimed) AS c(message_id) ON c.message_id = t.message_id;
    END IF;

    -- Explicit ids: each user's newest update in the batch, inserted, or written over the
    -- row's if it is newer than the update the row holds; in id order (so concurrent batches
    -- cannot deadlock).
    IF array_remove(user_ids, NULL) <> '{}' THEN
        WITH todo AS (
            SELECT DISTINCT ON (t.user_id) t.user_id, t.email, t.name, t.published, t.key
            FROM unnest(user_ids, emails, names, published, message_ids, fresh)
                AS t(user_id, email, name, published, key, fresh)
            WHERE t.user_id IS NOT NULL AND t.fresh
            ORDER BY t.user_id, t.published DESC, t.key COLLATE "C" DESC
        ), written AS (
            INSERT INTO users AS u (user_id, email, name, published_at, delivery_key)
            SELECT * FROM todo ORDER BY 1
            ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE
            SET email = EXCLUDED.email, name = EXCLUDED.name,
                published_at = EXCLUDED.published_at, delivery_key = EXCLUDED.delivery_key
            WHERE u.published_at IS NULL
               OR (u.published_at, u.delivery_key) < (EXCLUDED.published_at, EXCLUDED.delivery_key)
            RETURNING u.delivery_key
        )
        SELECT coalesce(array_agg(written.delivery_key), '{}') INTO won FROM written;
    END IF;

    IF array_position(user_ids, NULL) IS NULL THEN
        SELECT array_agg(CASE WHEN t.fresh AND w.key IS NOT NULL THEN t.user_id
                              WHEN t.fresh THEN -t.user_id
                              WHEN t.user_id = ANY (held) THEN 0 END ORDER BY t.ord)
        INTO stored
        FROM unnest(user_ids, fresh, message_ids) WITH ORDINALITY AS t(user_id, fresh, key, ord)
        LEFT JOIN unnest(won) AS w(key) ON w.key = t.key;
        RETURN stored;
    END IF;

    -- Drawn after the explicit ids are in, in input order.
    SELECT array_agg(CASE WHEN t.fresh THEN coalesce(t.user_id, nextval('users_generated_id_seq')::int4) END ORDER BY t.ord),
           count(*) FILTER (WHERE t.fresh AND t.user_id IS NULL)
    INTO stored, wanted
    FROM unnest(user_ids, fresh) WITH ORDINALITY AS t(user_id, fresh, ord);

    WITH inserted AS (
        INSERT INTO users AS u (user_id, email, name, published_at, delivery_key)
        SELECT t.id, t.email, t.name, t.published, t.key
        FROM unnest(stored, user_ids, emails, names, published, message_ids)
            AS t(id, given, email, name, published, key)
        WHERE t.given IS NULL AND t.id IS NOT NULL
        ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING
        RETURNING u.user_id
    )
    SELECT coalesce(array_agg(inserted.user_id), '{}') INTO landed FROM inserted;

    -- Values that an explicit id holds: draw again, skipping the taken run in one step.
    IF cardinality(landed) < wanted THEN
        FOR i IN 1 .. total LOOP
            CONTINUE WHEN user_ids[i] IS NOT NULL OR stored[i] IS NULL OR stored[i] = ANY (landed);
            LOOP
                stored[i] := next_generated_user_id();
                INSERT INTO users AS u (user_id, email, name, published_at, delivery_key)
                VALUES (stored[i], emails[i], names[i], published[i], message_ids[i])
                ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING;
                EXIT WHEN FOUND;
            END LOOP;
        END LOOP;
    END IF;
    -- Explicit ids: held elsewhere (0), or older than the row's update (-id).
    RETURN ARRAY(SELECT CASE WHEN t.user_id = ANY (held) THEN 0
                             WHEN t.user_id IS NOT NULL AND t.id IS NOT NULL AND w.key IS NULL THEN -t.id
                             ELSE t.id END
                 FROM unnest(stored, user_ids, message_ids) WITH ORDINALITY AS t(id, user_id, key, ord)
                 LEFT JOIN unnest(won) AS w(key) ON w.key = t.key
                 ORDER BY t.ord);
END
$$;

-- The previous release's batch write, for its instances during a rollout: its messages carry
-- no publish time, so they count as published when written (as a message without one does),
-- and an update older than the row's is reported stored, as that release knows no other
-- answer.
CREATE OR REPLACE FUNCTION write_user_messages(message_ids text[], user_ids int4[], emails text[], names text[])
RETURNS int4[]
LANGUAGE sql AS $$
    SELECT ARRAY(
        SELECT abs(s.id)
        FROM unnest(write_newest_user_messages(message_ids, user_ids, emails, names,
                                               array_fill(now(), ARRAY[cardinality(message_ids)])))
             WITH ORDINALITY AS s(id, ord)
        ORDER BY s.ord)
$$;

-- The functions' role calls it; no one else needs to.
REVOKE ALL ON FUNCTION write_newest_user_messages(text[], int4[], text[], text[], timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION write_newest_user_messages(text[], int4[], text[], text[], timestamptz[]) TO pipeline_writer;
