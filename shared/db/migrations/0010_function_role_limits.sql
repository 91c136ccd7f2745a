-- What a function's role could still do beyond its job, taken back; all of it by the
-- schema's owner, who on Cloud SQL is no superuser (a member of cloudsqlsuperuser).
--
-- 1. Nobody but the owner creates objects in the public schema. PostgreSQL 15 gives PUBLIC
-- no CREATE there, but a database made before 15 (or upgraded from 14) still does, and an
-- adopted one keeps it: a function's role could then create a table or a function that
-- shadows ours. If the schema belongs to a role the owner cannot act for, the revoke only
-- warns; that is refused here, with the way out, rather than left as it was.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
DECLARE
    owner text := (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public');
BEGIN
    IF EXISTS (SELECT FROM pg_namespace n, aclexplode(n.nspacl) a
               WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE') THEN
        RAISE EXCEPTION 'every role may still create objects in the public schema, and % cannot take that back: the schema belongs to %; as % (or a superuser), run REVOKE CREATE ON SCHEMA public FROM PUBLIC, then deploy again',
            current_user, owner, owner
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

-- 2. No temporary tables or functions in this database but the owner's (PUBLIC has TEMPORARY
-- by default; the functions need none). Only the database's owner, or a member of the role
-- that owns it, may revoke it: refused otherwise, as above.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    IF has_database_privilege('pipeline_reader', current_database(), 'TEMPORARY')
       OR has_database_privilege('pipeline_writer', current_database(), 'TEMPORARY') THEN
        RAISE EXCEPTION 'every role may still create temporary tables in the database %, and % cannot take that back: it belongs to %; as its owner, run REVOKE TEMPORARY ON DATABASE % FROM PUBLIC, then deploy again',
            current_database(), current_user,
            (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()),
            current_database()
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

-- 3. Generated ids: ingest draws them (nextval needs USAGE only) and nothing more; setval,
-- which could move the sequence to its end and use up every generated id, is the owner's.
-- next_generated_user_id() moves it only past ids already taken, so it runs with its
-- owner's rights; it is the users.user_id default, so a role that inserts users without an
-- id needs EXECUTE on it (ingest's group has it).
REVOKE SELECT, UPDATE ON SEQUENCE users_generated_id_seq FROM pipeline_writer;
ALTER FUNCTION next_generated_user_id() SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION next_generated_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION next_generated_user_id() TO pipeline_writer;

-- 4. Pruning. ingest no longer deletes delivery keys itself: a key it deletes early lets a
-- redelivery be stored twice. prune_processed_messages runs with its owner's rights and
-- never removes a key younger than 7 days (the longest a Pub/Sub subscription keeps a
-- message), whatever its caller asks, nor more than 10,000 at a call.
--
-- One session prunes at a time, as before, but the turn is a row lock on a table only the
-- owner may touch: an advisory lock can be taken by any role on any key, so a function's role
-- could hold it and stop pruning for good.
REVOKE DELETE ON processed_messages FROM pipeline_writer;

CREATE TABLE prune_turn (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row)
);
INSERT INTO prune_turn DEFAULT VALUES;

CREATE OR REPLACE FUNCTION prune_processed_messages(older_than interval, most int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed int;
BEGIN
    PERFORM FROM prune_turn FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- Nothing else changes an old key (a redelivery's ON CONFLICT DO NOTHING takes no lock),
    -- so the rows found are deleted by their place in the heap.
    DELETE FROM processed_messages
    WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM processed_messages
        WHERE processed_at < now() - greatest(older_than, interval '7 days')
        ORDER BY processed_at
        LIMIT least(greatest(most, 0), 10000)));
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
REVOKE EXECUTE ON FUNCTION prune_processed_messages(interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prune_processed_messages(interval, int) TO pipeline_writer;
