UPDATE users SET name = :name WHERE id = :id RETURNING name AS "renamed?"
