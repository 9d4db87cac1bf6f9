-- Rules are retired, never deleted.
UPDATE reward_rules SET retired_at = '2026-12-01 00:00:00+00:00' WHERE kind = 'programme_goal' AND retired_at IS NULL;
DROP TABLE programme_weeks;
