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

-- Every read of the ledger names the resident, so its primary key leads with them: the ledger page
-- (newest first within one resident) walks it backwards, and the separate page index goes. A
-- lottery entry names its spend by the same key.
ALTER TABLE lottery_entries DROP CONSTRAINT lottery_entries_ledger_entry_id_fkey;
ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_pkey, ADD PRIMARY KEY (user_id, id);
DROP INDEX points_ledger_user_page;
ALTER TABLE lottery_entries ADD CONSTRAINT lottery_entries_ledger_entry_fkey FOREIGN KEY (user_id, ledger_entry_id)
    REFERENCES points_ledger (user_id, id) ON DELETE CASCADE;

-- What an entry names is checked once per statement instead of once per row: a foreign key runs
-- a lookup and takes a row lock for every entry, and an upload writes up to a thousand entries.
-- An entry's rule must exist, and so must the balance it moves (which references the resident and
-- the programme). Every writer of the ledger locks that balance row first, so it cannot vanish
-- before the entry commits, and a balance row or a rule with entries cannot be deleted at all
-- (rules are retired, never deleted; an erasure deletes the entries before the balances).
-- A balance missing for any reason is rebuilt from the ledger, which is what a balance is.
INSERT INTO points_balances (user_id, programme_id, balance, lifetime_earned)
SELECT user_id, programme_id, sum(delta), sum(greatest(delta, 0)) FROM points_ledger GROUP BY 1, 2
ON CONFLICT DO NOTHING;
ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_user_id_fkey,
    DROP CONSTRAINT points_ledger_programme_id_fkey,
    DROP CONSTRAINT points_ledger_rule_id_fkey;
CREATE FUNCTION points_ledger_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_entries n
               WHERE n.rule_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM reward_rules r WHERE r.id = n.rule_id)) THEN
        RAISE EXCEPTION 'a ledger entry names a reward rule that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT user_id, programme_id FROM new_entries) n
               WHERE NOT EXISTS (SELECT 1 FROM points_balances b
                                 WHERE b.user_id = n.user_id AND b.programme_id = n.programme_id)) THEN
        RAISE EXCEPTION 'a ledger entry has no balance row'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER points_ledger_references_exist_insert AFTER INSERT ON points_ledger
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION points_ledger_references_exist();
-- The ledger is append-only: an entry is never changed (a correction is a new entry).
CREATE FUNCTION points_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER points_ledger_append_only BEFORE UPDATE ON points_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION points_ledger_append_only();

CREATE FUNCTION points_balances_keep_their_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM points_ledger l
               WHERE l.user_id = OLD.user_id AND l.programme_id = OLD.programme_id) THEN
        RAISE EXCEPTION 'a balance with ledger entries cannot be deleted'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER points_balances_keep_their_entries BEFORE DELETE ON points_balances
    FOR EACH ROW EXECUTE FUNCTION points_balances_keep_their_entries();

CREATE FUNCTION reward_rules_are_retired_not_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reward rules are retired, never deleted' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER reward_rules_are_retired_not_deleted BEFORE DELETE OR TRUNCATE ON reward_rules
    FOR EACH STATEMENT EXECUTE FUNCTION reward_rules_are_retired_not_deleted();
