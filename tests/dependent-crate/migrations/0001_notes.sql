CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    stars INTEGER
);
