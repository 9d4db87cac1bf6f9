-- Day-scoped awards (step tiers, daily logging) are unique per resident, programme and local day
-- under `day_key`; awards of longer periods (first measurement, checkup year, streak, event) stay
-- unique per resident and programme under `award_key`. The day index is the day-scoped uniqueness
-- constraint itself. A tiered award covers the tiers from the one its key names up to
-- `award_upto`: one entry per upload that crosses tiers instead of one per tier. (SQLite keeps
-- the ledger's single-column foreign keys: changing them means rebuilding the table.)
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
