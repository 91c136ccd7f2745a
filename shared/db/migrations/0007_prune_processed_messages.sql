-- processed_messages only has to remember a delivery for as long as Pub/Sub can deliver it
-- again: a subscription redelivers, or replays by seek, a message only within its message
-- retention (7 days at most, and what the Pulumi program sets). Older keys are removed by
-- ingest itself (prune_processed_messages, in small batches), so the table stays the size of
-- that window instead of growing forever.
--
-- The index on processed_at is what finds the old keys without reading the table: one
-- writer appends to its rightmost page, in time order.
CREATE INDEX processed_messages_processed_at ON processed_messages (processed_at);

-- prune_processed_messages(older_than, most): removes at most `most` keys processed more than
-- `older_than` ago, oldest first, and says how many; NULL when another session is pruning
-- (one instance at a time does the work; the others go on with theirs). Each call is its own
-- short transaction, so a large backlog never holds locks or a snapshot for long.
CREATE FUNCTION prune_processed_messages(older_than interval, most int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    removed int;
BEGIN
    -- An arbitrary constant naming this work ("prune" in ASCII).
    IF NOT pg_try_advisory_xact_lock(482956635749) THEN
        RETURN NULL;
    END IF;
    -- Nothing else changes an old key (a redelivery's ON CONFLICT DO NOTHING takes no lock),
    -- so the rows found are deleted by their place in the heap.
    DELETE FROM processed_messages
    WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM processed_messages
        WHERE processed_at < now() - older_than
        ORDER BY processed_at
        LIMIT most));
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
