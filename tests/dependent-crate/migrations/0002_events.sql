CREATE TABLE events (
    id BLOB PRIMARY KEY NOT NULL,
    at DATETIME NOT NULL,
    kind TEXT NOT NULL,
    detail JSON
);
