DROP TRIGGER reward_rules_are_retired_not_deleted;
DROP TRIGGER points_balances_keep_their_entries;
DROP TRIGGER points_ledger_append_only;
DROP TRIGGER points_ledger_balance_exists;
DROP INDEX points_ledger_day;
CREATE INDEX points_ledger_user_day ON points_ledger (user_id, programme_id, local_date);
DROP INDEX points_ledger_award;
-- Lossy: a tiered entry goes back to the key of its first tier only, so under the old schema
-- the later tiers of that day look unpaid and a re-upload of the day would pay them again.
UPDATE points_ledger
SET award_key = substr(day_key, 1, 37) || local_date || ':' || substr(day_key, 38)
WHERE day_key IS NOT NULL;
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key);
ALTER TABLE points_ledger DROP COLUMN day_key;
ALTER TABLE points_ledger DROP COLUMN award_upto;
