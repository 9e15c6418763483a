-- The enricher's table with 400 unverified addresses (launch.py makes the same with any count).
CREATE TABLE job_advertisement (
    id serial PRIMARY KEY,
    email text NOT NULL,
    email_verified text
);
INSERT INTO job_advertisement (email)
SELECT 'jobs' || i || '@example.com' FROM generate_series(1, 400) AS i;
