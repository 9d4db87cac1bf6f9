DROP INDEX points_ledger_user_page;
