ALTER TABLE consents DROP COLUMN include_notes;
ALTER TABLE consents DROP COLUMN data_from;
DROP TABLE privacy_releases;
DROP TABLE privacy_policy_changes;
ALTER TABLE organizations ADD COLUMN privacy_spent real NOT NULL DEFAULT 0
    CHECK (privacy_spent >= 0 AND privacy_spent <= privacy_budget);
UPDATE organizations SET privacy_spent = min(privacy_budget,
    coalesce((SELECT sum(y.spent) FROM privacy_budget_years y WHERE y.organization_id = organizations.id), 0));
DROP TABLE privacy_budget_years;
ALTER TABLE organizations DROP COLUMN privacy_mode;
