-- Not `<version>_<name>.sql`: migrate!() refuses the directory at build time.
CREATE TABLE b (x);
