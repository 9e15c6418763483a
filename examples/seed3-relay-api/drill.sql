-- The relay API's tables, one signed-in user (cookie session_id=s1) and one album.
CREATE TABLE users (did text PRIMARY KEY, handle text NOT NULL);
CREATE TABLE user_sessions (id text PRIMARY KEY, did text NOT NULL REFERENCES users, expires_at timestamptz NOT NULL);
CREATE TABLE albums (id text PRIMARY KEY, title text NOT NULL, artist_did text NOT NULL, track_count int NOT NULL);
CREATE TABLE moderation_flags (
    id serial PRIMARY KEY, track_id text NOT NULL, reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), resolved_at timestamptz
);
INSERT INTO users VALUES ('did:plc:alice', 'alice.example');
INSERT INTO user_sessions VALUES ('s1', 'did:plc:alice', now() + interval '1 day');
INSERT INTO albums VALUES ('a1', 'First Light', 'did:plc:alice', 9);
