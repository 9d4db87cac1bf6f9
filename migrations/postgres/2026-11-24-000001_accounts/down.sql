DROP TABLE pairing_codes;
DROP TABLE app_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
