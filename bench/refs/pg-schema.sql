-- bench/refs/pg-schema.sql - the PostgreSQL reference's tables: what hosod's writer
-- keeps for a submission (storage/: dossiers, owner index, feed, log, op records,
-- monitoring counters, the agency's daily sequence).
CREATE SEQUENCE daily_seq;
CREATE TABLE ops (op_id text PRIMARY KEY, code text NOT NULL);
CREATE TABLE dossiers (code text PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE owner_index (owner bigint, code text, PRIMARY KEY (owner, code));
CREATE TABLE feed (owner bigint, seq bigserial, body bytea NOT NULL, PRIMARY KEY (owner, seq));
CREATE TABLE log (id bigserial PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE stats (agency text, service text, day int, submitted bigint NOT NULL,
                    PRIMARY KEY (agency, service, day));
