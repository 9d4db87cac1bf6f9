//! Diesel table definitions, shared by both backends (the migrations keep them identical).
#![allow(missing_docs)]

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    users (id) {
        id -> SqlUuid,
        email -> Text,
        password_hash -> Text,
        display_name -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        sex -> Text,
        timezone -> Text,
        role -> Text,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    sessions (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        created_at -> SqlTs,
        revoked_at -> Nullable<SqlTs>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    refresh_tokens (id) {
        id -> SqlUuid,
        session_id -> SqlUuid,
        user_id -> SqlUuid,
        token_hash -> Text,
        created_at -> SqlTs,
        expires_at -> SqlTs,
        used_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    app_tokens (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        modality -> Text,
        created_at -> SqlTs,
        expires_at -> SqlTs,
        revoked_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    pairing_codes (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        code_hash -> Text,
        created_at -> SqlTs,
        expires_at -> SqlTs,
        claimed_at -> Nullable<SqlTs>,
        app_token_id -> Nullable<SqlUuid>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(app_tokens -> users (user_id));
diesel::joinable!(pairing_codes -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, refresh_tokens, app_tokens, pairing_codes);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs, SqlJson};

    measurements (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        kind -> Text,
        effective_at -> SqlTs,
        local_date -> Date,
        daily_key -> Nullable<Date>,
        fields -> SqlJson,
        source -> Text,
        client_ref -> Nullable<Text>,
        modality -> Text,
        note -> Nullable<Text>,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::joinable!(measurements -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(measurements, users);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlTs;

    programmes (id) {
        id -> Text,
        title -> Text,
        sponsor -> Text,
        eligibility -> Text,
        min_age -> Nullable<Integer>,
        max_age -> Nullable<Integer>,
        daily_cap -> Nullable<Integer>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs, SqlJson};

    reward_rules (id) {
        id -> SqlUuid,
        programme_id -> Text,
        kind -> Text,
        title -> Text,
        params -> SqlJson,
        active_from -> Nullable<Date>,
        active_to -> Nullable<Date>,
        min_age -> Nullable<Integer>,
        max_age -> Nullable<Integer>,
        sensed_only -> Bool,
        created_at -> SqlTs,
        retired_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    points_ledger (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        programme_id -> Text,
        rule_id -> Nullable<SqlUuid>,
        delta -> Integer,
        title -> Text,
        local_date -> Date,
        measurement_id -> Nullable<SqlUuid>,
        award_key -> Nullable<Text>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    points_balances (user_id, programme_id) {
        user_id -> SqlUuid,
        programme_id -> Text,
        balance -> Integer,
        lifetime_earned -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    lotteries (id) {
        id -> SqlUuid,
        programme_id -> Text,
        title -> Text,
        prize -> Text,
        cost_per_entry -> Integer,
        winners -> Integer,
        closes_at -> SqlTs,
        closed_at -> Nullable<SqlTs>,
        seed -> Nullable<Text>,
        drawn_at -> Nullable<SqlTs>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    lottery_entries (id) {
        id -> SqlUuid,
        lottery_id -> SqlUuid,
        user_id -> SqlUuid,
        tickets -> Integer,
        points_spent -> Integer,
        ledger_entry_id -> SqlUuid,
        client_ref -> Nullable<Text>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    lottery_winners (lottery_id, rank) {
        lottery_id -> SqlUuid,
        rank -> Integer,
        user_id -> SqlUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    events (id) {
        id -> SqlUuid,
        programme_id -> Text,
        title -> Text,
        points -> Integer,
        code -> Text,
        starts_at -> SqlTs,
        ends_at -> SqlTs,
        created_at -> SqlTs,
    }
}

diesel::joinable!(reward_rules -> programmes (programme_id));
diesel::joinable!(lottery_entries -> lotteries (lottery_id));
diesel::allow_tables_to_appear_in_same_query!(
    programmes,
    reward_rules,
    points_ledger,
    points_balances,
    users,
    lotteries,
    lottery_entries,
    lottery_winners,
    events
);
