-- Accounts, login sessions, refresh tokens, app tokens and kiosk pairing codes.
-- SQLite: ids are 16-byte blobs, instants UTC text in diesel's sortable format, dates YYYY-MM-DD.
CREATE TABLE users (
    id            blob PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    display_name  text,
    birth_date    text,
    sex           text NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    timezone      text NOT NULL,
    role          text NOT NULL CHECK (role IN ('resident', 'admin')),
    created_at    text NOT NULL,
    updated_at    text NOT NULL
);

-- A session is one login: the family of refresh tokens rotated from it.
CREATE TABLE sessions (
    id             blob PRIMARY KEY,
    user_id        blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     text NOT NULL,
    revoked_at     text,
    revoked_reason text
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id         blob PRIMARY KEY,
    session_id blob NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    used_at    text
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);

CREATE TABLE app_tokens (
    id         blob PRIMARY KEY,
    user_id    blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    scopes     text NOT NULL,
    modality   text NOT NULL CHECK (modality IN ('sensed', 'self_reported')),
    created_at text NOT NULL,
    expires_at text NOT NULL,
    revoked_at text
);
CREATE INDEX app_tokens_user_id ON app_tokens (user_id);

CREATE TABLE pairing_codes (
    id           blob PRIMARY KEY,
    user_id      blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash    text NOT NULL UNIQUE,
    created_at   text NOT NULL,
    expires_at   text NOT NULL,
    claimed_at   text,
    app_token_id blob REFERENCES app_tokens (id) ON DELETE SET NULL
);
CREATE INDEX pairing_codes_user_id ON pairing_codes (user_id);
