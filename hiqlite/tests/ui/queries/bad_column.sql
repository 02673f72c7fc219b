-- A compile-fail fixture: `mail` is no column of users.
SELECT id,
       mail
FROM users
