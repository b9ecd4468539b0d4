-- One database per service; mounted into /docker-entrypoint-initdb.d and run
-- once, on the first start with an empty data volume.
CREATE DATABASE book;
CREATE DATABASE "user";
