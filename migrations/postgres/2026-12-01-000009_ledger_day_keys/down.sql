DROP TRIGGER reward_rules_are_retired_not_deleted ON reward_rules;
DROP FUNCTION reward_rules_are_retired_not_deleted();
DROP TRIGGER points_balances_keep_their_entries ON points_balances;
DROP FUNCTION points_balances_keep_their_entries();
DROP TRIGGER points_ledger_references_exist_insert ON points_ledger;
DROP TRIGGER points_ledger_append_only ON points_ledger;
DROP FUNCTION points_ledger_append_only();
DROP FUNCTION points_ledger_references_exist();
ALTER TABLE points_ledger ADD CONSTRAINT points_ledger_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES reward_rules (id),
    ADD CONSTRAINT points_ledger_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    ADD CONSTRAINT points_ledger_programme_id_fkey FOREIGN KEY (programme_id) REFERENCES programmes (id);
ALTER TABLE lottery_entries DROP CONSTRAINT lottery_entries_ledger_entry_fkey;
ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_pkey, ADD PRIMARY KEY (id);
CREATE INDEX points_ledger_user_page ON points_ledger (user_id, programme_id, id);
ALTER TABLE lottery_entries ADD CONSTRAINT lottery_entries_ledger_entry_id_fkey FOREIGN KEY (ledger_entry_id)
    REFERENCES points_ledger (id) ON DELETE CASCADE;
DROP INDEX points_ledger_day;
CREATE INDEX points_ledger_user_day ON points_ledger (user_id, programme_id, local_date);
DROP INDEX points_ledger_award;
-- Lossy: a tiered entry goes back to the key of its first tier only, so under the old schema
-- the later tiers of that day look unpaid and a re-upload of the day would pay them again.
UPDATE points_ledger
SET award_key = substr(day_key, 1, 37) || local_date::text || ':' || substr(day_key, 38)
WHERE day_key IS NOT NULL;
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key);
ALTER TABLE points_ledger DROP COLUMN day_key, DROP COLUMN award_upto;
