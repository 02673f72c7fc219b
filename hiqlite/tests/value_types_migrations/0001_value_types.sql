-- Fixture schema of hiqlite/tests/value_types.rs: one column per stored form of the feature
-- types (chrono, time, uuid, json) and of derive(HiqliteType) enums and newtypes.
CREATE TABLE happenings (
    id INTEGER PRIMARY KEY,
    uid BLOB NOT NULL,
    uid_text TEXT NOT NULL,
    uid_decl UUID,
    at_text TEXT NOT NULL,
    at_unix INTEGER NOT NULL,
    at_decl DATETIME,
    day DATE,
    clock TIME,
    doc JSON,
    prefs TEXT,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    owner INTEGER
);
