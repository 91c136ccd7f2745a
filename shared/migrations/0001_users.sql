-- The users the pipeline stores and serves, in the original system's shape.
CREATE TABLE users (
    user_id integer PRIMARY KEY CHECK (user_id > 0),
    email   VARCHAR(255) NOT NULL,
    name    VARCHAR(255) NOT NULL
);

-- Ids for users whose message names none. The writer moves it past every explicit id it
-- stores, so a generated id never takes one given before.
CREATE SEQUENCE users_generated_id_seq AS integer MINVALUE 1 OWNED BY users.user_id;
