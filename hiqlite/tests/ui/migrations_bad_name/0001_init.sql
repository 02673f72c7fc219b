-- A well-named migration next to a badly named one (init2.sql): the directory is refused.
CREATE TABLE a (x);
