-- Day-scoped awards (step tiers, daily logging) are unique per resident, programme and local day
-- under `day_key`; awards of longer periods (first measurement, checkup year, streak, event) stay
-- unique per resident and programme under `award_key`. The day index is the day-scoped uniqueness
-- constraint itself. A tiered award covers the tiers from the one its key names up to
-- `award_upto`: one entry per upload that crosses tiers instead of one per tier. (SQLite keeps
-- the ledger's primary key, page index and single-column foreign keys: changing them means
-- rebuilding the table, and per-row checks cost SQLite little.)
ALTER TABLE points_ledger ADD COLUMN day_key text;
ALTER TABLE points_ledger ADD COLUMN award_upto integer;

UPDATE points_ledger
SET day_key = substr(award_key, 1, 37) || substr(award_key, 49),
    award_upto = CASE WHEN substr(award_key, 49) GLOB 'steps[0-9]*' THEN CAST(substr(award_key, 54) AS INTEGER) END,
    award_key = NULL
WHERE award_key GLOB '????????-????-????-????-????????????:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]:*';

DROP INDEX points_ledger_award;
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key)
    WHERE award_key IS NOT NULL;
DROP INDEX points_ledger_user_day;
CREATE UNIQUE INDEX points_ledger_day ON points_ledger (user_id, programme_id, local_date, day_key);

-- As on PostgreSQL: an entry moves a balance that exists, the ledger is append-only, a balance
-- with entries is not deleted (an erasure deletes the entries first), and rules are retired,
-- never deleted.
INSERT INTO points_balances (user_id, programme_id, balance, lifetime_earned)
SELECT user_id, programme_id, sum(delta), sum(max(delta, 0)) FROM points_ledger GROUP BY 1, 2
ON CONFLICT DO NOTHING;
CREATE TRIGGER points_ledger_balance_exists BEFORE INSERT ON points_ledger
WHEN NOT EXISTS (SELECT 1 FROM points_balances b WHERE b.user_id = NEW.user_id AND b.programme_id = NEW.programme_id)
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry has no balance row');
END;
CREATE TRIGGER points_balances_keep_their_entries BEFORE DELETE ON points_balances
WHEN EXISTS (SELECT 1 FROM points_ledger l WHERE l.user_id = OLD.user_id AND l.programme_id = OLD.programme_id)
BEGIN
    SELECT RAISE(ABORT, 'a balance with ledger entries cannot be deleted');
END;
CREATE TRIGGER points_ledger_append_only BEFORE UPDATE ON points_ledger
BEGIN
    SELECT RAISE(ABORT, 'the points ledger is append-only');
END;
CREATE TRIGGER reward_rules_are_retired_not_deleted BEFORE DELETE ON reward_rules
BEGIN
    SELECT RAISE(ABORT, 'reward rules are retired, never deleted');
END;
