-- Health points: programmes, their rules (data, not code), an append-only ledger and balances.
CREATE TABLE programmes (
    id          text PRIMARY KEY,
    title       text NOT NULL,
    sponsor     text NOT NULL,
    eligibility text NOT NULL CHECK (eligibility IN ('everyone', 'organization_members')),
    min_age     integer,
    max_age     integer,
    -- Most points one resident can earn in the programme per local day; NULL: no cap.
    daily_cap   integer,
    created_at  text NOT NULL
);

CREATE TABLE reward_rules (
    id           blob PRIMARY KEY,
    programme_id text NOT NULL REFERENCES programmes (id),
    kind         text NOT NULL,
    title        text NOT NULL,
    -- The kind's own fields (tiers, measurement_type, points, max_per_day, …).
    params       text NOT NULL,
    active_from  text,
    active_to    text,
    min_age      integer,
    max_age      integer,
    sensed_only  boolean NOT NULL,
    created_at   text NOT NULL,
    -- Rules are retired, never deleted, so ledger entries keep pointing at the rule that paid them.
    retired_at   text
);
CREATE INDEX reward_rules_programme ON reward_rules (programme_id);

-- Append-only. An award's key is unique per resident and programme: retries, re-uploads, replays
-- and concurrent requests cannot pay it twice.
CREATE TABLE points_ledger (
    id             blob PRIMARY KEY,
    user_id        blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    programme_id   text NOT NULL REFERENCES programmes (id),
    rule_id        blob REFERENCES reward_rules (id),
    delta          integer NOT NULL,
    title          text NOT NULL,
    local_date     text NOT NULL,
    -- No foreign key: deleting a measurement does not claw back points already paid.
    measurement_id blob,
    award_key      text,
    created_at     text NOT NULL
);
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key);
CREATE INDEX points_ledger_user_day ON points_ledger (user_id, programme_id, local_date);

-- The running sum of the ledger per resident and programme, updated in the same transaction as
-- every ledger row; its row lock serialises one resident's awards and spends in a programme.
CREATE TABLE points_balances (
    user_id         blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    programme_id    text NOT NULL REFERENCES programmes (id),
    balance         integer NOT NULL CHECK (balance >= 0),
    lifetime_earned integer NOT NULL,
    PRIMARY KEY (user_id, programme_id)
);

-- The prefecture's programme: everyone is eligible. Default rules modelled on public municipal
-- programmes (Asmile-style): step tiers, daily logging, first measurements, checkups.
INSERT INTO programmes (id, title, sponsor, eligibility, min_age, max_age, daily_cap, created_at)
VALUES ('osaka', 'Osaka health points', 'platform', 'everyone', NULL, NULL, 20, '2026-11-24 00:00:00+00:00');

INSERT INTO reward_rules (id, programme_id, kind, title, params, active_from, active_to, min_age, max_age, sensed_only, created_at, retired_at) VALUES
(x'01a20000000070008000000000000001', 'osaka', 'daily_steps', 'Daily steps',
 '{"tiers":[{"min_steps":2000,"points":1},{"min_steps":4000,"points":1},{"min_steps":6000,"points":1},{"min_steps":8000,"points":1},{"min_steps":10000,"points":1}]}',
 NULL, NULL, NULL, 64, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000002', 'osaka', 'daily_steps', 'Daily steps (65 and over)',
 '{"tiers":[{"min_steps":1000,"points":1},{"min_steps":2000,"points":1},{"min_steps":4000,"points":1},{"min_steps":6000,"points":1},{"min_steps":8000,"points":1}]}',
 NULL, NULL, 65, NULL, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000003', 'osaka', 'measurement_logged', 'Weighed yourself',
 '{"measurement_type":"body_weight","points":1,"max_per_day":1}', NULL, NULL, NULL, NULL, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000004', 'osaka', 'measurement_logged', 'Measured your blood pressure',
 '{"measurement_type":"blood_pressure","points":1,"max_per_day":1}', NULL, NULL, NULL, NULL, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000005', 'osaka', 'health_checkup', 'Specific health checkup',
 '{"checkup_kind":"specific_health_checkup","points":10,"max_per_year":1}', NULL, NULL, NULL, NULL, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000006', 'osaka', 'health_checkup', 'Cancer screening',
 '{"checkup_kind":"cancer_screening","points":5,"max_per_year":1}', NULL, NULL, NULL, NULL, 0, '2026-11-24 00:00:00+00:00', NULL),
(x'01a20000000070008000000000000007', 'osaka', 'first_measurement', 'First vascular age measurement',
 '{"measurement_type":"vascular_age","points":3}', NULL, NULL, NULL, NULL, 1, '2026-11-24 00:00:00+00:00', NULL);
