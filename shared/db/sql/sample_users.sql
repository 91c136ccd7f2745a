-- The original system's six sample users: for the local pipeline and tests, never production.
INSERT INTO users (user_id, email, name) VALUES
    (1, 'john.doe@example.com', 'John Doe'),
    (2, 'jane.smith@example.com', 'Jane Smith'),
    (3, 'alice.johnson@example.com', 'Alice Johnson'),
    (4, 'bob.miller@example.com', 'Bob Miller'),
    (5, 'charlie.brown@example.com', 'Charlie Brown'),
    (6, 'diana.prince@example.com', 'Diana Prince')
ON CONFLICT (user_id) DO NOTHING;
SELECT setval('users_generated_id_seq', 6) WHERE 6 >= (SELECT last_value FROM users_generated_id_seq);
