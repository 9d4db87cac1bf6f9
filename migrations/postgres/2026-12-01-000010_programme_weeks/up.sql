-- The weekly programme: one plan of goals per resident and local week (its Monday), made the
-- first time the week's plan is asked for and then kept, so the goals stay put for the week and
-- the next week's step goal can adapt to how this one went.
CREATE TABLE programme_weeks (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    week_start date NOT NULL,
    -- The goals, most pressing first, each with the reason it was chosen.
    goals      jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, week_start)
);

-- Goals met pay points: 2 for each goal of the week's plan the week's data meets, once per goal
-- and week (award key `<rule>:goal:<monday>:<goal>`).
INSERT INTO reward_rules (id, programme_id, kind, title, params, active_from, active_to, min_age, max_age, sensed_only, created_at, retired_at) VALUES
('01a20000-0000-7000-8000-000000000008', 'osaka', 'programme_goal', 'Weekly programme goal met',
 '{"points":2}', NULL, NULL, NULL, NULL, false, '2026-12-01 00:00:00+00', NULL)
-- (after a down migration, which retires it, this brings it back into force)
ON CONFLICT (id) DO UPDATE SET retired_at = NULL;
