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
        app_id -> Nullable<SqlUuid>,
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
        app_id -> Nullable<SqlUuid>,
        scopes -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(app_tokens -> users (user_id));
diesel::joinable!(pairing_codes -> users (user_id));

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

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlTs, SqlUuid};

    programmes (id) {
        id -> Text,
        title -> Text,
        sponsor -> Text,
        eligibility -> Text,
        min_age -> Nullable<Integer>,
        max_age -> Nullable<Integer>,
        daily_cap -> Nullable<Integer>,
        created_at -> SqlTs,
        organization_id -> Nullable<SqlUuid>,
        award_window_days -> Integer,
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
        day_key -> Nullable<Text>,
        award_upto -> Nullable<Integer>,
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

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    organizations (id) {
        id -> SqlUuid,
        name -> Text,
        kind -> Text,
        privacy_budget -> Double,
        privacy_mode -> Text,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    org_staff (organization_id, user_id, role) {
        organization_id -> SqlUuid,
        user_id -> SqlUuid,
        role -> Text,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    enrollment_codes (id) {
        id -> SqlUuid,
        organization_id -> SqlUuid,
        code_hash -> Text,
        expires_at -> Nullable<SqlTs>,
        max_uses -> Nullable<Integer>,
        uses -> Integer,
        created_by -> Nullable<SqlUuid>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    memberships (id) {
        id -> SqlUuid,
        user_id -> SqlUuid,
        organization_id -> SqlUuid,
        enrollment_code_id -> Nullable<SqlUuid>,
        joined_at -> SqlTs,
        left_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    consents (id) {
        id -> SqlUuid,
        receipt_id -> SqlUuid,
        user_id -> SqlUuid,
        organization_id -> SqlUuid,
        membership_id -> SqlUuid,
        include_points -> Bool,
        access -> Text,
        purpose -> Text,
        expires_at -> Nullable<SqlTs>,
        created_at -> SqlTs,
        revoked_at -> Nullable<SqlTs>,
        revoked_reason -> Nullable<Text>,
        data_from -> Date,
        include_notes -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    consent_types (consent_id, measurement_type) {
        consent_id -> SqlUuid,
        measurement_type -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    access_log (id) {
        id -> SqlUuid,
        subject_id -> Nullable<SqlUuid>,
        actor_id -> Nullable<SqlUuid>,
        organization_id -> Nullable<SqlUuid>,
        organization_name -> Text,
        consent_id -> Nullable<SqlUuid>,
        action -> Text,
        measurement_type -> Nullable<Text>,
        purpose -> Text,
        records -> Integer,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs, SqlJson};

    aggregate_log (id) {
        id -> SqlUuid,
        organization_id -> SqlUuid,
        actor_id -> Nullable<SqlUuid>,
        query -> Text,
        request -> SqlJson,
        epsilon -> Nullable<Double>,
        groups -> Integer,
        suppressed -> Integer,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    measurement_rollups (user_id, kind, field, month, age_band) {
        user_id -> SqlUuid,
        kind -> Text,
        field -> Text,
        month -> Date,
        age_band -> Text,
        sex -> Text,
        n -> Integer,
        total -> Double,
        total_sq -> Double,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    measurement_rollup_buckets (user_id, kind, field, month, age_band, bucket) {
        user_id -> SqlUuid,
        kind -> Text,
        field -> Text,
        month -> Date,
        age_band -> Text,
        sex -> Text,
        bucket -> Integer,
        n -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    measurement_rollup_years (user_id, kind, field, year, age_band) {
        user_id -> SqlUuid,
        kind -> Text,
        field -> Text,
        year -> Date,
        age_band -> Text,
        sex -> Text,
        months -> Integer,
        n -> Integer,
        total -> Double,
        total_sq -> Double,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::SqlUuid;

    measurement_rollup_year_buckets (user_id, kind, field, year, age_band, bucket) {
        user_id -> SqlUuid,
        kind -> Text,
        field -> Text,
        year -> Date,
        age_band -> Text,
        sex -> Text,
        months -> Integer,
        bucket -> Integer,
        n -> Integer,
    }
}

diesel::joinable!(consent_types -> consents (consent_id));
diesel::joinable!(consents -> organizations (organization_id));
diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(org_staff -> organizations (organization_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs, SqlJson};

    programme_weeks (user_id, week_start) {
        user_id -> SqlUuid,
        week_start -> Date,
        goals -> SqlJson,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    registered_apps (id) {
        id -> SqlUuid,
        name -> Text,
        kind -> Text,
        scopes -> Text,
        modality -> Text,
        client_id -> Text,
        secret_hash -> Text,
        created_at -> SqlTs,
        retired_at -> Nullable<SqlTs>,
    }
}

// Every pair of tables may appear in one query.
diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    privacy_budget_years (organization_id, year) {
        organization_id -> SqlUuid,
        year -> Integer,
        spent -> Double,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs};

    privacy_policy_changes (id) {
        id -> SqlUuid,
        organization_id -> SqlUuid,
        actor_id -> Nullable<SqlUuid>,
        mode_before -> Text,
        mode_after -> Text,
        epsilon_before -> Double,
        epsilon_after -> Double,
        reason -> Nullable<Text>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{SqlUuid, SqlTs, SqlJson};

    privacy_releases (id) {
        id -> SqlUuid,
        organization_id -> SqlUuid,
        actor_id -> Nullable<SqlUuid>,
        statistic -> Text,
        population -> Text,
        measurement_type -> Nullable<Text>,
        period_from -> Date,
        period_to -> Date,
        mode -> Text,
        epsilon -> Nullable<Double>,
        budget_year -> Integer,
        reuse_key -> Nullable<Text>,
        answer -> Nullable<SqlJson>,
        released_at -> SqlTs,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    app_tokens,
    pairing_codes,
    measurements,
    programmes,
    reward_rules,
    points_ledger,
    points_balances,
    lotteries,
    lottery_entries,
    lottery_winners,
    events,
    organizations,
    org_staff,
    enrollment_codes,
    memberships,
    consents,
    consent_types,
    access_log,
    aggregate_log,
    measurement_rollups,
    measurement_rollup_buckets,
    measurement_rollup_years,
    measurement_rollup_year_buckets,
    programme_weeks,
    privacy_budget_years,
    privacy_policy_changes,
    privacy_releases,
    registered_apps,
);
