-- Renames a user and returns the new name (tests/typed.rs: query_file_scalar!, a write).
UPDATE users
SET name = :new_name
WHERE id = :id
RETURNING name
