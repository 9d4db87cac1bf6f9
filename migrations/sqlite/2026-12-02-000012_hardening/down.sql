-- Not undone: the tokens made `self_reported` stay so (which of them claimed `sensed` is not kept,
-- and that claim was never vouched for).
UPDATE reward_rules SET sensed_only = 0
WHERE id IN (x'01a20000000070008000000000000001', x'01a20000000070008000000000000002');
ALTER TABLE programmes DROP COLUMN award_window_days;
ALTER TABLE pairing_codes DROP COLUMN scopes;
ALTER TABLE pairing_codes DROP COLUMN app_id;
DROP INDEX app_tokens_app;
ALTER TABLE app_tokens DROP COLUMN app_id;
DROP TABLE registered_apps;
