-- Privacy against a curious organisation: every statistic an organisation receives is a stored
-- release under the organisation's privacy policy (differential privacy by default, or the
-- k-anonymous `exact` mode an operator approved with a reason), charged to a budget that renews
-- each calendar year; consents say from which day on their data may be used and whether notes are.

-- The policy: `privacy_budget` is now the epsilon per calendar year (read-only through the v1
-- organisation routes); what each year spent is kept per year. (SQLite cannot drop a column
-- default; every insert names the mode.)
ALTER TABLE organizations
    ADD COLUMN privacy_mode text NOT NULL DEFAULT 'differential_privacy'
        CHECK (privacy_mode IN ('differential_privacy', 'exact'));

CREATE TABLE privacy_budget_years (
    organization_id blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    year            integer NOT NULL,
    spent           real NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (organization_id, year)
);
-- What v1 spent counts against the year it was spent in.
INSERT INTO privacy_budget_years (organization_id, year, spent)
SELECT id, 2026, privacy_spent FROM organizations WHERE privacy_spent > 0;
ALTER TABLE organizations DROP COLUMN privacy_spent;

-- Every change of an organisation's policy: who, when, from what to what, and why.
CREATE TABLE privacy_policy_changes (
    id              blob PRIMARY KEY,
    organization_id blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_id        blob REFERENCES users (id) ON DELETE SET NULL,
    mode_before     text NOT NULL,
    mode_after      text NOT NULL,
    epsilon_before  real NOT NULL,
    epsilon_after   real NOT NULL,
    reason          text,
    created_at      text NOT NULL
);
CREATE INDEX privacy_policy_changes_org ON privacy_policy_changes (organization_id, id);

-- Every statistic released to an organisation (see the PostgreSQL migration for the columns).
CREATE TABLE privacy_releases (
    id               blob PRIMARY KEY,
    organization_id  blob NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_id         blob REFERENCES users (id) ON DELETE SET NULL,
    statistic        text NOT NULL,
    population       text NOT NULL CHECK (population IN ('consenting', 'members')),
    measurement_type text,
    period_from      text NOT NULL,
    period_to        text NOT NULL,
    mode             text NOT NULL CHECK (mode IN ('differential_privacy', 'exact')),
    epsilon          real,
    budget_year      integer NOT NULL,
    reuse_key        text,
    answer           text,
    released_at      text NOT NULL,
    CHECK ((mode = 'exact') = (epsilon IS NULL))
);
CREATE UNIQUE INDEX privacy_releases_reuse ON privacy_releases (organization_id, reuse_key);
CREATE INDEX privacy_releases_org ON privacy_releases (organization_id, released_at);

-- Consents: the first day of data they share (v1 consents shared the whole history; they keep
-- the day they were given, as a new consent does by default) and whether free-text notes go with it.
ALTER TABLE consents ADD COLUMN data_from text NOT NULL DEFAULT '1900-01-01';
UPDATE consents SET data_from = substr(created_at, 1, 10);
ALTER TABLE consents ADD COLUMN include_notes boolean NOT NULL DEFAULT 0;
