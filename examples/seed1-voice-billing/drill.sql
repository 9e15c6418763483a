-- The platform and the one tenant ("acme") share the drill's database; poolwarden drill fills in
-- the placeholders ({db_user}, {db_host} ...) with the database the app is given.
CREATE TABLE tenants (
    id text PRIMARY KEY,
    database_url text NOT NULL,
    active boolean NOT NULL DEFAULT true
);
INSERT INTO tenants VALUES
    ('acme', 'postgresql+asyncpg://{db_user}:{db_password}@{db_host}:{db_port}/{db_name}', true);

CREATE TABLE plan_subscriptions (
    id serial PRIMARY KEY,
    organization_id int NOT NULL,
    plan_id int NOT NULL,
    status varchar(16) NOT NULL,
    included_seconds_left int NOT NULL DEFAULT 0,
    current_period_end timestamptz NOT NULL
);
CREATE INDEX ON plan_subscriptions (organization_id);
INSERT INTO plan_subscriptions (organization_id, plan_id, status, included_seconds_left, current_period_end)
VALUES (1, 7, 'active', 600, '2026-12-31T00:00:00Z');

CREATE TABLE rate_cards (
    plan_id int PRIMARY KEY,
    per_minute numeric(10, 4) NOT NULL,
    minimum_charge numeric(10, 4) NOT NULL DEFAULT 0
);
INSERT INTO rate_cards VALUES (7, 0.0400, 0.0100);

CREATE TABLE call_usage (
    call_id varchar(64) PRIMARY KEY,
    organization_id int NOT NULL,
    duration_seconds int NOT NULL,
    amount numeric(12, 4) NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
