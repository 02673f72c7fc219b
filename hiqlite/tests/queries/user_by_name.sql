-- One user by name (tests/typed.rs: query_file!). The parameter is bound by name.
SELECT id, name, email
FROM users
WHERE name = :name
