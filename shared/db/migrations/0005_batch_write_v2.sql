-- 1. Generated ids no longer chase explicit ones. Until now every explicit id moved
-- users_generated_id_seq past it, so one message with user_id 2147483647 used up every
-- generated id, and any large explicit id burnt the space below it. Now the sequence moves
-- only by drawing: a generated id that an explicit one already holds is skipped, together
-- with the whole run of taken ids it starts (one ordered index scan, then setval), so a
-- generated id still never takes an id in use, no message can move the sequence, and
-- skipping a run of explicit ids costs one query, not one draw each. The sequence runs out
-- only when ~2^31 ids have been drawn; that is a transient error (503), never a dead letter.
--
-- 2. A row another session holds no longer stalls every write. The batch write takes the
-- rows of its explicit ids with FOR UPDATE SKIP LOCKED; a message whose user row is held
-- elsewhere is neither claimed nor written, and answers 0 ("held elsewhere, try again"),
-- while the rest of the batch goes on at once. (lock_timeout, set per connection, bounds the
-- waits that cannot be skipped: a key or a new id another transaction is inserting.)

-- first_free_user_id(start): the smallest id >= start that no user holds; bigint, since it is
-- 2^31 (past the last integer) when every id from start up is taken. Walks the primary key
-- in order from start and stops at the first gap.
CREATE FUNCTION first_free_user_id(start int4) RETURNS int8
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM users WHERE user_id = start) THEN start::int8
        ELSE (SELECT u.user_id::int8 + 1
              FROM users u
              WHERE u.user_id >= start
                AND NOT EXISTS (SELECT 1 FROM users v WHERE v.user_id = u.user_id::int8 + 1)
              ORDER BY u.user_id
              LIMIT 1)
    END
$$;

-- next_generated_user_id(): the next free id from the sequence, skipping taken runs at once.
-- Concurrent writers may both jump; setval only ever moves forward here, and the insert
-- that follows still checks (ON CONFLICT), so a lost race costs a redraw, never a duplicate.
CREATE FUNCTION next_generated_user_id() RETURNS int4
LANGUAGE plpgsql AS $$
DECLARE
    drawn int4 := nextval('users_generated_id_seq');
    free  int8;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE user_id = drawn) THEN
        RETURN drawn;
    END IF;
    free := first_free_user_id(drawn);
    IF free > 2147483647 THEN
        -- Everything from here up is taken: let the sequence report its own limit (2200H).
        PERFORM setval('users_generated_id_seq', 2147483647);
        RETURN nextval('users_generated_id_seq');
    END IF;
    PERFORM setval('users_generated_id_seq', free)
    WHERE free > (SELECT s.last_value FROM users_generated_id_seq s);
    RETURN free;
END
$$;

-- write_user_messages: store_user_messages (0004) with generated ids that fill free ids and
-- explicit ids that skip rows held elsewhere. Per message: the id it stored, NULL for a
-- redelivery, 0 for a message whose user row another session holds (not claimed: retry).
CREATE FUNCTION write_user_messages(message_ids text[], user_ids int4[], emails text[], names text[])
RETURNS int4[]
LANGUAGE plpgsql AS $$
DECLARE
    total   int := cardinality(message_ids);
    claimed text[];
    fresh   boolean[];  -- per message: claimed now (false: a redelivery, or held elsewhere)
    held    int4[] := '{}';  -- explicit ids whose rows another session holds
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
            INSERT INTO users (user_id, email, name) SELECT * FROM unnest(stored, emails, names);
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

    -- Explicit ids: inserted or updated, the last message of the batch winning, in id order
    -- (so concurrent batches cannot deadlock). They no longer move the sequence.
    IF array_remove(user_ids, NULL) <> '{}' THEN
        WITH todo AS (
            SELECT DISTINCT ON (t.user_id) t.user_id, t.email, t.name
            FROM unnest(user_ids, emails, names, fresh) WITH ORDINALITY AS t(user_id, email, name, fresh, ord)
            WHERE t.user_id IS NOT NULL AND t.fresh
            ORDER BY t.user_id, t.ord DESC
        )
        INSERT INTO users AS u (user_id, email, name)
        SELECT * FROM todo ORDER BY 1
        ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name;
    END IF;

    IF array_position(user_ids, NULL) IS NULL THEN
        SELECT array_agg(CASE WHEN t.fresh THEN t.user_id WHEN t.user_id = ANY (held) THEN 0 END ORDER BY t.ord)
        INTO stored
        FROM unnest(user_ids, fresh) WITH ORDINALITY AS t(user_id, fresh, ord);
        RETURN stored;
    END IF;

    -- Drawn after the explicit ids are in, in input order.
    SELECT array_agg(CASE WHEN t.fresh THEN coalesce(t.user_id, nextval('users_generated_id_seq')::int4) END ORDER BY t.ord),
           count(*) FILTER (WHERE t.fresh AND t.user_id IS NULL)
    INTO stored, wanted
    FROM unnest(user_ids, fresh) WITH ORDINALITY AS t(user_id, fresh, ord);

    WITH inserted AS (
        INSERT INTO users AS u (user_id, email, name)
        SELECT t.id, t.email, t.name
        FROM unnest(stored, user_ids, emails, names) AS t(id, given, email, name)
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
                INSERT INTO users AS u (user_id, email, name) VALUES (stored[i], emails[i], names[i])
                ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING;
                EXIT WHEN FOUND;
            END LOOP;
        END LOOP;
    END IF;
    IF held <> '{}' THEN
        stored := ARRAY(SELECT CASE WHEN t.user_id = ANY (held) THEN 0 ELSE t.id END
                        FROM unnest(stored, user_ids) WITH ORDINALITY AS t(id, user_id, ord) ORDER BY t.ord);
    END IF;
    RETURN stored;
END
$$;

-- The previous release's batch write, for its instances during a rollout: the same work,
-- and a batch with a row held elsewhere fails whole (as a lock timeout: retried), as it
-- would have waited before.
CREATE OR REPLACE FUNCTION store_user_messages(message_ids text[], user_ids int4[], emails text[], names text[])
RETURNS int4[]
LANGUAGE plpgsql AS $$
DECLARE
    stored int4[] := write_user_messages(message_ids, user_ids, emails, names);
BEGIN
    IF 0 = ANY (stored) THEN
        RAISE EXCEPTION 'a user row is held by another session' USING ERRCODE = 'lock_not_available';
    END IF;
    RETURN stored;
END
$$;

-- Repair: a sequence that an explicit id pushed to its limit starts over and fills free ids
-- (runs of taken ones are skipped as above). Any other position is kept.
SELECT setval('users_generated_id_seq', 1, false)
FROM users_generated_id_seq s
WHERE s.is_called AND s.last_value = 2147483647;
