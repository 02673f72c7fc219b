-- Fixture of the query_file*! trybuild cases (typed_ui.rs copies this directory next to
-- trybuild's crate, so the cases name it `tests/ui/queries/...` as this crate would).
SELECT id, name, email
FROM users
WHERE id = :id
