-- Measurements: one row per observation, values as a JSON object validated against the catalogue.
CREATE TABLE measurements (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    effective_at timestamptz NOT NULL,
    -- The resident's calendar day at effective_at, in their timezone at upload.
    local_date   date NOT NULL,
    -- local_date for daily-total types (steps), NULL otherwise: one row per resident, source and day.
    daily_key    date,
    fields       jsonb NOT NULL,
    source       text NOT NULL,
    client_ref   text,
    modality     text NOT NULL CHECK (modality IN ('sensed', 'self_reported')),
    note         text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
-- Idempotent retries: a (source, client_ref) pair is stored once per resident.
CREATE UNIQUE INDEX measurements_client_ref ON measurements (user_id, source, client_ref);
CREATE UNIQUE INDEX measurements_daily ON measurements (user_id, kind, source, daily_key);
-- The resident's own reads: by type and time, newest first, keyset-paged by (effective_at, id).
CREATE INDEX measurements_user_kind_time ON measurements (user_id, kind, effective_at, id);
