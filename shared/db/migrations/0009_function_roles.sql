-- Least privilege inside PostgreSQL. The functions no longer log in as the schema's owner
-- (on Cloud SQL a member of cloudsqlsuperuser, who can create roles and drop tables), but as
-- login roles that belong to one of these two groups (see Database::provision_login):
--
--   pipeline_reader  read:   the users table, and the migration list its schema check reads
--   pipeline_writer  ingest: writing users and its bookkeeping, keeping dead letters
--
-- Neither owns anything, so neither can drop or alter a table; PostgreSQL 15 gives PUBLIC no
-- CREATE on the public schema, so neither can make one. Migrations stay with the owner: a
-- migration that adds a table the functions use grants it here as well.
--
-- Roles belong to the whole cluster, not to one database: a second database (or one of the
-- tests' databases, migrating at the same moment) may have made them already.
DO $$
BEGIN
    CREATE ROLE pipeline_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
    CREATE ROLE pipeline_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

GRANT USAGE ON SCHEMA public TO pipeline_reader, pipeline_writer;
GRANT SELECT ON schema_migrations TO pipeline_reader, pipeline_writer;
GRANT SELECT ON users TO pipeline_reader;

-- write_user_messages runs with the caller's rights: it upserts users (FOR UPDATE needs
-- UPDATE), draws and moves the id sequence, and claims delivery keys; the pruning pass
-- deletes old keys; a message that can never succeed is kept as a dead letter.
GRANT SELECT, INSERT, UPDATE ON users TO pipeline_writer;
GRANT SELECT, USAGE, UPDATE ON SEQUENCE users_generated_id_seq TO pipeline_writer;
GRANT SELECT, INSERT, DELETE ON processed_messages TO pipeline_writer;
-- ON CONFLICT (delivery_key) reads the key column; the payloads (emails) stay unreadable.
GRANT INSERT, SELECT (delivery_key) ON dead_letters TO pipeline_writer;
