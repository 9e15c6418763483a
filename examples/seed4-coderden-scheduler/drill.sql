-- What coderden.tasks.sync_contest_standings needs: contests (none running now) and the
-- standings function. Drive it with: poolwarden drill --start-postgres --setup-sql drill.sql
--   --app-cwd buggy --call coderden.tasks:sync_contest_standings --fault terminate
CREATE TABLE contests (id serial PRIMARY KEY, starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL);
INSERT INTO contests (starts_at, ends_at) VALUES (now() - interval '2 days', now() - interval '1 day');
CREATE FUNCTION recompute_contest_standings(contest_id int) RETURNS void LANGUAGE sql AS $$ SELECT $$;
