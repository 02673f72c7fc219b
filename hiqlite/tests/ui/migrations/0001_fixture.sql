-- Fixture schema for the trybuild cases of the typed API (hiqlite/tests/typed_ui.rs points
-- HIQLITE_MIGRATIONS_DIR here), independent of the example schema.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    score REAL NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT 1,
    balance NUMERIC,
    avatar BLOB,
    extra
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    amount INT,
    data ANY
) STRICT;
