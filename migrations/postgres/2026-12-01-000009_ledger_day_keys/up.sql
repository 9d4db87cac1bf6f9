-- Day-scoped awards (step tiers, daily logging) are unique per resident, programme and local day
-- under `day_key`; awards of longer periods (first measurement, checkup year, streak, event) stay
-- unique per resident and programme under `award_key`. The day index that reads a day's entries
-- (daily caps, today's points) is the day-scoped uniqueness constraint itself, so an award row
-- costs one index fewer. A tiered award covers the tiers from the one its key names up to
-- `award_upto`: one entry per upload that crosses tiers instead of one per tier.
ALTER TABLE points_ledger ADD COLUMN day_key text, ADD COLUMN award_upto integer;

-- Earlier entries keyed `<rule>:<YYYY-MM-DD>:<slot>` move to `day_key` = `<rule>:<slot>`; a step
-- tier `steps<N>` paid alone covers the tiers from N to N.
UPDATE points_ledger
SET day_key = substr(award_key, 1, 37) || substr(award_key, 49),
    award_upto = CASE WHEN substr(award_key, 49) ~ '^steps[0-9]+$' THEN substr(award_key, 54)::integer END,
    award_key = NULL
WHERE award_key ~ '^[0-9a-f-]{36}:[0-9]{4}-[0-9]{2}-[0-9]{2}:';

DROP INDEX points_ledger_award;
CREATE UNIQUE INDEX points_ledger_award ON points_ledger (user_id, programme_id, award_key)
    WHERE award_key IS NOT NULL;
DROP INDEX points_ledger_user_day;
CREATE UNIQUE INDEX points_ledger_day ON points_ledger (user_id, programme_id, local_date, day_key);

-- An entry belongs to the balance it moves: one composite foreign key instead of one to users and
-- one to programmes (points_balances references both), so each ledger row runs one check fewer.
-- Every ledger row already has its balance row (awards and spends write it first); a balance
-- missing for any reason is rebuilt from the ledger, which is what a balance is.
INSERT INTO points_balances (user_id, programme_id, balance, lifetime_earned)
SELECT user_id, programme_id, sum(delta), sum(greatest(delta, 0)) FROM points_ledger GROUP BY 1, 2
ON CONFLICT DO NOTHING;
ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_user_id_fkey,
    DROP CONSTRAINT points_ledger_programme_id_fkey,
    ADD CONSTRAINT points_ledger_balance_fkey FOREIGN KEY (user_id, programme_id)
        REFERENCES points_balances (user_id, programme_id) ON DELETE CASCADE;
