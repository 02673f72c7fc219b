-- Todo items, used by the example HTTP service (examples/src/http_service). STRICT: SQLite
-- enforces the declared types, so the Rust types query! infers from this table hold for every
-- row. The constraints are the service's rules: the HTTP layer turns their failures into 409/422.
CREATE TABLE todos (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL CHECK (length(trim(title)) BETWEEN 1 AND 200),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    notes TEXT,
    created_at INTEGER NOT NULL DEFAULT (unixepoch('now')),
    UNIQUE (user_id, title)
) STRICT;
