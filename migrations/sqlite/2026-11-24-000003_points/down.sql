DROP TABLE points_balances;
DROP TABLE points_ledger;
DROP TABLE reward_rules;
DROP TABLE programmes;
