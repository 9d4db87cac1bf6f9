-- The ledger page (newest first by id) for one resident and programme. Without it the page walked
-- the whole table's primary key backwards for residents with no recent entries.
CREATE INDEX points_ledger_user_page ON points_ledger (user_id, programme_id, id);
