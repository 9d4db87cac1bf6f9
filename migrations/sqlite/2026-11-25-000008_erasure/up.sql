-- Account erasure finds a person's rows by every column that references them, and the foreign
-- keys' ON DELETE actions and checks look up the rows that reference each deleted row. None of
-- these columns had an index that starts with it, so every erasure scanned these tables whole,
-- some once per deleted row (a ledger row's lottery entry), while holding the account's lock.
CREATE INDEX access_log_actor ON access_log (actor_id);
CREATE INDEX access_log_consent ON access_log (consent_id);
CREATE INDEX aggregate_log_actor ON aggregate_log (actor_id);
CREATE INDEX enrollment_codes_created_by ON enrollment_codes (created_by);
-- memberships_current covers only current memberships.
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX consents_membership ON consents (membership_id);
CREATE INDEX lottery_winners_user_id ON lottery_winners (user_id);
CREATE INDEX lottery_entries_ledger_entry ON lottery_entries (ledger_entry_id);
CREATE INDEX pairing_codes_app_token ON pairing_codes (app_token_id);
