-- The users the pipeline stores and serves, in the original system's shape. A database the
-- original system created already has this table: it is adopted as it is.
CREATE TABLE IF NOT EXISTS users (
    user_id integer PRIMARY KEY CHECK (user_id > 0),
    email   VARCHAR(255) NOT NULL,
    name    VARCHAR(255) NOT NULL
);

-- Ids for users whose message names none. The writer moves it past every explicit id it
-- stores, so a generated id never takes one given before; it starts past any adopted rows.
CREATE SEQUENCE IF NOT EXISTS users_generated_id_seq AS integer MINVALUE 1 OWNED BY users.user_id;
SELECT setval('users_generated_id_seq', max(user_id)) FROM users HAVING max(user_id) IS NOT NULL;
