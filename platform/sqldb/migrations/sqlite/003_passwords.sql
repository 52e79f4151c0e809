-- Users sign in with a password, stored as an argon2id hash only. A user
-- with an empty hash (made before passwords) cannot sign in until an
-- admin or the user sets one.
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_by_user_age ON sessions (user_id, created_at);
