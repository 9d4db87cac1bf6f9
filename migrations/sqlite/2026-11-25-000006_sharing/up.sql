-- Organisations and sharing: staff, enrollment codes, memberships, consents (never deleted: their
-- grants and revocations are the history), the access log and the organisations' aggregate audit,
-- and the per-resident monthly rollup that aggregates are answered from.
CREATE TABLE organizations (
    id             blob PRIMARY KEY,
    name           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('employer', 'insurer')),
    -- Differential privacy: the total epsilon the organisation may spend, and what it has spent.
    privacy_budget real NOT NULL CHECK (privacy_budget >= 0),
    privacy_spent  real NOT NULL CHECK (privacy_spent >= 0 AND privacy_spent <= privacy_budget),
    created_at     text NOT NULL,
    updated_at     text NOT NULL
);

CREATE TABLE org_staff (
    organization_id blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('org_admin', 'analyst', 'health_staff')),
    created_at      text NOT NULL,
    PRIMARY KEY (organization_id, user_id, role)
);
CREATE INDEX org_staff_user ON org_staff (user_id);

CREATE TABLE enrollment_codes (
    id              blob PRIMARY KEY,
    organization_id blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    code_hash       text NOT NULL UNIQUE,
    expires_at      text,
    max_uses        integer,
    uses            integer NOT NULL CHECK (max_uses IS NULL OR uses <= max_uses),
    created_by      blob REFERENCES users (id) ON DELETE SET NULL,
    created_at      text NOT NULL
);
CREATE INDEX enrollment_codes_org ON enrollment_codes (organization_id);

CREATE TABLE memberships (
    id                 blob PRIMARY KEY,
    user_id            blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id    blob NOT NULL REFERENCES organizations (id),
    enrollment_code_id blob REFERENCES enrollment_codes (id) ON DELETE SET NULL,
    joined_at          text NOT NULL,
    left_at            text
);
-- One current membership per resident and organisation; a resident who left may join again.
CREATE UNIQUE INDEX memberships_current ON memberships (user_id, organization_id) WHERE left_at IS NULL;
CREATE INDEX memberships_org ON memberships (organization_id);

CREATE TABLE consents (
    id              blob PRIMARY KEY,
    receipt_id      blob NOT NULL UNIQUE,
    user_id         blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id blob NOT NULL REFERENCES organizations (id),
    membership_id   blob NOT NULL REFERENCES memberships (id),
    include_points  boolean NOT NULL,
    access          text NOT NULL CHECK (access IN ('aggregate', 'individual')),
    purpose         text NOT NULL,
    expires_at      text,
    created_at      text NOT NULL,
    revoked_at      text,
    revoked_reason  text
);
CREATE INDEX consents_user ON consents (user_id, id);
CREATE INDEX consents_org ON consents (organization_id, user_id);

-- The measurement types a consent covers (a row each, so aggregates join on them).
CREATE TABLE consent_types (
    consent_id       blob NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
    measurement_type text NOT NULL,
    PRIMARY KEY (consent_id, measurement_type)
);

-- Every read of a resident's data by anyone but the resident. Erasing the resident (or the
-- reader) keeps the fact that a read happened, not who it was about.
CREATE TABLE access_log (
    id                blob PRIMARY KEY,
    subject_id        blob REFERENCES users (id) ON DELETE SET NULL,
    actor_id          blob REFERENCES users (id) ON DELETE SET NULL,
    organization_id   blob REFERENCES organizations (id) ON DELETE SET NULL,
    organization_name text NOT NULL,
    consent_id        blob REFERENCES consents (id) ON DELETE SET NULL,
    action            text NOT NULL,
    measurement_type  text,
    purpose           text NOT NULL,
    records           integer NOT NULL,
    created_at        text NOT NULL
);
CREATE INDEX access_log_subject ON access_log (subject_id, id);

-- Every aggregate query an organisation ran: who, what, when, and what it cost in epsilon.
CREATE TABLE aggregate_log (
    id              blob PRIMARY KEY,
    organization_id blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_id        blob REFERENCES users (id) ON DELETE SET NULL,
    query           text NOT NULL,
    request         text NOT NULL,
    epsilon         real,
    groups          integer NOT NULL,
    suppressed      integer NOT NULL,
    created_at      text NOT NULL
);
CREATE INDEX aggregate_log_org ON aggregate_log (organization_id, id);

-- One row per resident, type, numeric field, calendar month of the local day and 10-year age band
-- on the measurement's day: the atomic aggregate cells (month × age band × sex) are sums of these
-- rows. `sex` is copied from the account (and rewritten when it changes) so cells need no join.
CREATE TABLE measurement_rollups (
    user_id  blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     text NOT NULL,
    field    text NOT NULL,
    month    date NOT NULL,
    age_band text NOT NULL,
    sex      text NOT NULL,
    n        integer NOT NULL,
    total    real NOT NULL,
    total_sq real NOT NULL,
    PRIMARY KEY (user_id, kind, field, month, age_band)
);
CREATE INDEX measurement_rollups_cell ON measurement_rollups (kind, field, month);

-- The same rows' values counted in fixed-width buckets of the field's plausible range (percentiles).
CREATE TABLE measurement_rollup_buckets (
    user_id  blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     text NOT NULL,
    field    text NOT NULL,
    month    date NOT NULL,
    age_band text NOT NULL,
    sex      text NOT NULL,
    bucket   integer NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (user_id, kind, field, month, age_band, bucket)
);
CREATE INDEX measurement_rollup_buckets_cell ON measurement_rollup_buckets (kind, field, month);

-- A programme sponsored by an organisation for its members. (No REFERENCES here: SQLite cannot drop
-- a column that carries one, which the down migration needs; deleting an organisation that
-- sponsors a programme is refused by the application on both backends.)
ALTER TABLE programmes ADD COLUMN organization_id blob;
