ALTER TABLE consents DROP COLUMN include_notes;
ALTER TABLE consents DROP COLUMN data_from;
DROP TABLE privacy_releases;
DROP TABLE privacy_policy_changes;
ALTER TABLE organizations ADD COLUMN privacy_spent double precision NOT NULL DEFAULT 0;
UPDATE organizations o SET privacy_spent = LEAST(o.privacy_budget,
    COALESCE((SELECT sum(y.spent) FROM privacy_budget_years y WHERE y.organization_id = o.id), 0));
ALTER TABLE organizations ALTER COLUMN privacy_spent DROP DEFAULT;
ALTER TABLE organizations ADD CONSTRAINT organizations_privacy_spent_check
    CHECK (privacy_spent >= 0 AND privacy_spent <= privacy_budget);
DROP TABLE privacy_budget_years;
ALTER TABLE organizations DROP COLUMN privacy_mode;
