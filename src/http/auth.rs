//! The authenticated principal, as an extractor: a handler that takes a [`Principal`] cannot run
//! for an unauthenticated request, so no list of public routes has to be kept.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::accounts::tokens::{self, Modality, Scope};
use crate::accounts::{Role, User};
use crate::db::{AppTokenId, OrgId, SessionId, UserId};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::limits::AccountPermit;
use crate::sharing::{StaffRole, orgs};

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A login session's access token.
    Session {
        /// The session (refresh-token family).
        session_id: SessionId,
    },
    /// An app or kiosk token.
    AppToken {
        /// The token.
        token_id: AppTokenId,
        /// Whether data sent with it is sensed or self-reported.
        modality: Modality,
        /// The token's name: the default source of what it uploads.
        name: String,
    },
}

/// Who is calling, with what role and scopes.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account.
    pub user_id: UserId,
    /// The account row, read when the credential was checked (handlers need not read it again).
    pub user: User,
    /// The account role.
    pub role: Role,
    /// What the credential allows.
    pub scopes: Vec<Scope>,
    /// The credential used.
    pub credential: Credential,
    /// Staff roles per organisation (login sessions only: an app token never acts for an
    /// organisation). Read with the account on every request, so a removed role ends at once.
    pub staff: Vec<(OrgId, StaffRole)>,
    /// One of the account's request slots, held while this request (and anything it hands this
    /// principal to, such as an export's read) runs.
    pub slot: Arc<AccountPermit>,
}

impl Principal {
    /// 403 unless the credential carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(match scope {
                Scope::Account => "this credential cannot manage the account",
                Scope::MeasurementsRead => "this credential lacks the measurements:read scope",
                Scope::MeasurementsWrite => "this credential lacks the measurements:write scope",
                Scope::PointsRead => "this credential lacks the points:read scope",
            }))
        }
    }

    /// 403 unless the account is an operator signed in with a session.
    pub fn require_admin(&self) -> Result<(), AppError> {
        self.require(Scope::Account)?;
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::Forbidden("operators only"))
        }
    }

    /// 403 unless the caller, signed in with a session, holds `role` in organisation `org`.
    pub fn require_staff(&self, org: OrgId, role: StaffRole) -> Result<(), AppError> {
        if self.staff.contains(&(org, role)) {
            Ok(())
        } else {
            Err(AppError::Forbidden(match role {
                StaffRole::OrgAdmin => "only this organisation's org_admin staff may do this",
                StaffRole::Analyst => "only this organisation's analysts may do this",
                StaffRole::HealthStaff => "only this organisation's health staff may do this",
            }))
        }
    }

    /// 403 unless the caller, signed in with a session, holds one of `roles` in organisation `org`.
    pub fn require_any_staff(&self, org: OrgId, roles: &[StaffRole]) -> Result<(), AppError> {
        if roles.iter().any(|r| self.staff.contains(&(org, *r))) {
            Ok(())
        } else {
            Err(AppError::Forbidden("your roles in this organisation do not allow this"))
        }
    }

    /// Modality and default source of data this caller uploads: a login session is the resident
    /// typing (`self_reported`, source `manual`); an app or kiosk token says what it is.
    pub fn uploader(&self) -> (Modality, String) {
        match &self.credential {
            Credential::Session { .. } => (Modality::SelfReported, "manual".to_owned()),
            Credential::AppToken { modality, name, .. } => (*modality, name.clone()),
        }
    }

    /// The login session, if the caller used one.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session { session_id } => Some(session_id),
            Credential::AppToken { .. } => None,
        }
    }
}

/// An operator signed in with a login session, as an extractor: a handler that takes it cannot run
/// for anyone else (401, 403). On `/v1/admin/…` the guard middleware has already checked it before
/// the body was read, so a resident probing an operator route learns nothing of what it accepts.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

impl FromRequest for Operator {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        Box::pin(async move {
            let who = principal.await?;
            who.require_admin()?;
            Ok(Operator(who))
        })
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

async fn authenticate(state: web::Data<AppState>, token: String) -> Result<Principal, AppError> {
    if tokens::is_app_token(&token) {
        let auth = state
            .db(move |c| Ok(tokens::authenticate_app_token(c, &token)?))
            .await?;
        let auth = auth.ok_or(AppError::Unauthorized)?;
        let modality = Modality::parse(&auth.token.modality).ok_or(AppError::Unauthorized)?;
        let slot = state.gate.enter(auth.user.id).await?;
        return Ok(Principal {
            slot,
            user_id: auth.user.id,
            role: auth.user.role(),
            user: auth.user,
            scopes: tokens::parse_scopes(&auth.token.scopes),
            credential: Credential::AppToken {
                token_id: auth.token.id,
                modality,
                name: auth.token.name,
            },
            staff: Vec::new(),
        });
    }
    let claims = state.keys.verify(&token).ok_or(AppError::Unauthorized)?;
    let (user_id, session_id) = (UserId(claims.sub), SessionId(claims.sid));
    // The signature names the account: its slot is taken before the database is asked anything.
    let slot = state.gate.enter(user_id).await?;
    // The signature alone is not enough: a deleted account or a revoked session (logout, password
    // change, refresh-token reuse) ends its access tokens at once.
    let found = state
        .db(move |c| Ok(orgs::session_principal(c, user_id, session_id)?))
        .await?;
    let (user, staff) = found.ok_or(AppError::Unauthorized)?;
    Ok(Principal {
        user_id,
        // The role comes from the database, not the token, so a demotion applies at once.
        role: user.role(),
        user,
        scopes: claims.scopes,
        credential: Credential::Session { session_id },
        staff,
        slot,
    })
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Operator routes are authenticated by the guard before their body is read.
        if let Some(who) = req.extensions().get::<Principal>().cloned() {
            return Box::pin(async move { Ok(who) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let token = token.ok_or(AppError::Unauthorized)?;
            authenticate(state, token).await
        })
    }
}
