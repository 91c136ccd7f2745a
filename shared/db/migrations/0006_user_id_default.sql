-- users.user_id takes a generated id when an INSERT names none, so the original system's own
-- statements (INSERT INTO users (email, name) VALUES ...) and any tool that inserts users work,
-- with ids drawn the way ingest draws them: from users_generated_id_seq, skipping ids in use
-- (next_generated_user_id, migration 0005). Neither side can take the other's ids.
ALTER TABLE users ALTER COLUMN user_id SET DEFAULT next_generated_user_id();
