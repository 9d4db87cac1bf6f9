-- Points that cannot be minted (issue 15).

-- Apps and kiosks the platform vouches for. Only their tokens may be `sensed`: a resident's word
-- never is. The client secret is stored as a SHA-256 hash (a long random value, like app tokens).
CREATE TABLE registered_apps (
    id          blob PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('app', 'kiosk')),
    scopes      text NOT NULL,
    modality    text NOT NULL CHECK (modality IN ('sensed', 'self_reported')),
    client_id   text NOT NULL UNIQUE,
    secret_hash text NOT NULL,
    created_at  text NOT NULL,
    retired_at  text
);

-- The registered app that claimed a token (none: the resident made it, or an unauthenticated
-- kiosk claimed it), and the app a pairing code is for and the scopes the resident allows.
-- (No REFERENCES clause: SQLite cannot drop a column that has one, and down.sql drops them.)
ALTER TABLE app_tokens ADD COLUMN app_id blob;
CREATE INDEX app_tokens_app ON app_tokens (app_id) WHERE app_id IS NOT NULL;
ALTER TABLE pairing_codes ADD COLUMN app_id blob;
ALTER TABLE pairing_codes ADD COLUMN scopes text;

-- A measurement earns only for local days this many days before the upload's day at most.
ALTER TABLE programmes ADD COLUMN award_window_days integer NOT NULL DEFAULT 7
    CHECK (award_window_days BETWEEN 1 AND 366);

-- The default step tiers pay device-measured steps only.
UPDATE reward_rules SET sensed_only = 1
WHERE id IN (x'01a20000000070008000000000000001', x'01a20000000070008000000000000002');

-- Until now a resident could declare a token `sensed`, and anyone holding a pairing code could
-- claim a `sensed` kiosk token: no existing token was vouched for by a registered app.
UPDATE app_tokens SET modality = 'self_reported' WHERE app_id IS NULL AND modality <> 'self_reported';
