-- Users from an id on, in id order (tests/typed.rs: query_file_as!).
SELECT id, name, email
FROM users
WHERE id >= ?
ORDER BY id
