SELECT count(*) FROM users WHERE score > ?
