-- Lotteries bought with points, and events that pay points for a check-in.
CREATE TABLE lotteries (
    id             uuid PRIMARY KEY,
    programme_id   text NOT NULL REFERENCES programmes (id),
    title          text NOT NULL,
    prize          text NOT NULL,
    cost_per_entry integer NOT NULL CHECK (cost_per_entry > 0),
    winners        integer NOT NULL CHECK (winners > 0),
    closes_at      timestamptz NOT NULL,
    -- Set when an operator closes it early or draws it.
    closed_at      timestamptz,
    -- The draw: its seed is kept so anyone can replay it from the entries.
    seed           text,
    drawn_at       timestamptz,
    created_at     timestamptz NOT NULL
);
CREATE INDEX lotteries_programme ON lotteries (programme_id, id);

-- One row per purchase; its points were spent by the ledger entry it names, in the same transaction.
CREATE TABLE lottery_entries (
    id              uuid PRIMARY KEY,
    lottery_id      uuid NOT NULL REFERENCES lotteries (id),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tickets         integer NOT NULL CHECK (tickets > 0),
    points_spent    integer NOT NULL CHECK (points_spent > 0),
    ledger_entry_id uuid NOT NULL REFERENCES points_ledger (id) ON DELETE CASCADE,
    -- A client's retry of the same purchase carries the same reference and spends nothing twice.
    client_ref      text,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX lottery_entries_client_ref ON lottery_entries (lottery_id, user_id, client_ref);
CREATE INDEX lottery_entries_user ON lottery_entries (user_id, id);

CREATE TABLE lottery_winners (
    lottery_id uuid NOT NULL REFERENCES lotteries (id),
    -- Position in the draw, from 1.
    rank       integer NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (lottery_id, rank)
);
CREATE UNIQUE INDEX lottery_winners_user ON lottery_winners (lottery_id, user_id);

-- A check-in pays once per resident and event: the ledger's award key `event:<id>` is unique.
CREATE TABLE events (
    id           uuid PRIMARY KEY,
    programme_id text NOT NULL REFERENCES programmes (id),
    title        text NOT NULL,
    points       integer NOT NULL CHECK (points > 0),
    code         text NOT NULL UNIQUE,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    created_at   timestamptz NOT NULL
);
