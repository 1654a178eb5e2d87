-- bench/refs/pg-submit.sql - one submission in one transaction (pgbench script;
-- synchronous_commit on: durable before the reply). The code's number comes from a
-- sequence, as a PostgreSQL application would take it; the day's counter of the
-- agency and service is one row every submission updates, as in hosod.
\set owner random(1, 1000000)
\set op random(1, 1000000000000)
BEGIN;
SELECT nextval('daily_seq') AS n \gset
INSERT INTO ops VALUES ('op' || :op, '000.00.12.H29-261201-' || :n) ON CONFLICT DO NOTHING;
INSERT INTO dossiers VALUES ('000.00.12.H29-261201-' || :n, convert_to(repeat('x', 1000), 'UTF8'));
INSERT INTO owner_index VALUES (:owner, '000.00.12.H29-261201-' || :n);
INSERT INTO feed (owner, body) VALUES (:owner, convert_to(repeat('x', 1000), 'UTF8'));
INSERT INTO log (body) VALUES (convert_to(repeat('x', 1000), 'UTF8'));
INSERT INTO stats VALUES ('000.00.12.H29', '1.000894', 20261201, 1)
  ON CONFLICT (agency, service, day) DO UPDATE SET submitted = stats.submitted + 1;
END;
