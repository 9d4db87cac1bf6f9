ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_balance_fkey,
    ADD CONSTRAINT points_ledger_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    ADD CONSTRAINT points_ledger_programme_id_fkey FOREIGN KEY (programme_id) REFERENCES programmes (id);
DROP INDEX points_ledger_day;
CREATE INDEX points_ledger_user_day ON points_ledger (user_id, programme_id, local_date);
DROP INDEX points_ledger_award;
-- A tiered entry is split back into nothing finer than its first tier: the key names that one.
UPDATE points_ledger
SET award_key = substr(day_key, 1, 37) || local_date::text || ':' || substr(day_key, 38)
WHERE day_key IS NOT NULL;
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key);
ALTER TABLE points_ledger DROP COLUMN day_key, DROP COLUMN award_upto;
