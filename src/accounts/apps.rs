//! Registered apps and kiosks: the only way a token becomes `sensed`.
//!
//! An operator registers an app or kiosk with the scopes it may hold and the modality its data
//! has; it gets a client id and a client secret (shown once, stored as a SHA-256 hash like every
//! opaque secret here). Its server then claims a resident's pairing code with those credentials
//! (HTTP Basic), and the token it gets carries the app's modality. A resident can still make
//! tokens and claim their own codes, but those are always `self_reported`: their word is not a
//! device's.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tokens::{self, Modality, Scope};
use crate::db::schema::{app_tokens, registered_apps};
use crate::db::{AppId, DbConn, Ts};

const CLIENT_ID_PREFIX: &str = "kac_";
const CLIENT_SECRET_PREFIX: &str = "kas_";

/// What a registered client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// An app's server (`POST /v1/apps/claim`).
    App,
    /// A measurement kiosk (`POST /v1/pairing/claim`).
    Kiosk,
}

impl AppKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::App => "app",
            AppKind::Kiosk => "kiosk",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(AppKind::App),
            "kiosk" => Some(AppKind::Kiosk),
            _ => None,
        }
    }
}

/// A registered app (never its secret).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registered_apps)]
pub struct RegisteredApp {
    /// The app's id, by which operators manage it (kiosks authenticate with `client_id`).
    pub id: AppId,
    /// Name, shown to residents as the name of the tokens it claims.
    pub name: String,
    /// `app` or `kiosk`.
    pub kind: String,
    /// Space-separated scopes its tokens may hold.
    pub scopes: String,
    /// `sensed` or `self_reported`: the modality of its tokens.
    pub modality: String,
    /// Public half of its credentials.
    pub client_id: String,
    /// When it was registered.
    pub created_at: Ts,
    /// When it was retired (its credentials and tokens stop working).
    pub retired_at: Option<Ts>,
}

impl RegisteredApp {
    /// Its kind (an unknown stored value reads as an app).
    pub fn kind(&self) -> AppKind {
        AppKind::parse(&self.kind).unwrap_or(AppKind::App)
    }

    /// Its tokens' modality (an unknown stored value reads as the weaker `self_reported`).
    pub fn modality(&self) -> Modality {
        Modality::from_stored(&self.modality)
    }

    /// The scopes its tokens may hold.
    pub fn scopes(&self) -> Vec<Scope> {
        tokens::parse_scopes(&self.scopes)
    }
}

/// Registers an app; returns it and its client secret (shown once).
pub fn register(
    conn: &mut DbConn,
    name: &str,
    kind: AppKind,
    scopes: &[Scope],
    modality: Modality,
) -> QueryResult<(RegisteredApp, String)> {
    let id = AppId::new();
    let client_id = format!("{CLIENT_ID_PREFIX}{}", tokens::random_hex(12));
    let secret = format!("{CLIENT_SECRET_PREFIX}{}", tokens::random_hex(32));
    diesel::insert_into(registered_apps::table)
        .values((
            registered_apps::id.eq(id),
            registered_apps::name.eq(name),
            registered_apps::kind.eq(kind.as_str()),
            registered_apps::scopes.eq(tokens::format_scopes(scopes)),
            registered_apps::modality.eq(modality.as_str()),
            registered_apps::client_id.eq(&client_id),
            registered_apps::secret_hash.eq(tokens::hash_secret(&secret)),
            registered_apps::created_at.eq(Ts::now()),
        ))
        .execute(conn)?;
    let app = registered_apps::table
        .find(id)
        .select(RegisteredApp::as_select())
        .first(conn)?;
    Ok((app, secret))
}

/// Every app in service, oldest first.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<RegisteredApp>> {
    registered_apps::table
        .filter(registered_apps::retired_at.is_null())
        .select(RegisteredApp::as_select())
        .order(registered_apps::id.asc())
        .load(conn)
}

/// The app in service with this id.
pub fn find(conn: &mut DbConn, id: AppId) -> QueryResult<Option<RegisteredApp>> {
    registered_apps::table
        .find(id)
        .filter(registered_apps::retired_at.is_null())
        .select(RegisteredApp::as_select())
        .first(conn)
        .optional()
}

/// The app in service whose credentials these are. The secret is compared as its hash, in the
/// query, so nothing here takes longer for a nearly right secret.
pub fn authenticate(conn: &mut DbConn, client_id: &str, secret: &str) -> QueryResult<Option<RegisteredApp>> {
    registered_apps::table
        .filter(registered_apps::client_id.eq(client_id))
        .filter(registered_apps::secret_hash.eq(tokens::hash_secret(secret)))
        .filter(registered_apps::retired_at.is_null())
        .select(RegisteredApp::as_select())
        .first(conn)
        .optional()
}

/// Retires an app: its credentials stop working, and so does every token it claimed (a retired
/// app is one the platform no longer vouches for). False if there is none in service. Run inside a
/// transaction.
pub fn retire(conn: &mut DbConn, id: AppId) -> QueryResult<bool> {
    let now = Ts::now();
    let n = diesel::update(
        registered_apps::table
            .filter(registered_apps::id.eq(id))
            .filter(registered_apps::retired_at.is_null()),
    )
    .set(registered_apps::retired_at.eq(now))
    .execute(conn)?;
    if n == 1 {
        // An operator statement over every resident's tokens from this app (by the app's index).
        diesel::update(
            app_tokens::table
                .filter(app_tokens::app_id.eq(id))
                .filter(app_tokens::revoked_at.is_null()),
        )
        .set(app_tokens::revoked_at.eq(now))
        .execute(conn)?;
    }
    Ok(n == 1)
}
