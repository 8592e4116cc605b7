-- What golang-migrate's postgres driver creates before it runs the first migration (its version table);
-- Harbor's 0030_2.0.0_schema.up.sql adds a column to it. bench_corpus.py runs this file on both databases
-- (engine and psql alike) before the migrations; it is not part of the comparison's input.
CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
