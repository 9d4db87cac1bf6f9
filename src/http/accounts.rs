//! Auth and account routes. The handlers live by subject: [`sessions`] (register, login, refresh,
//! logout), [`profile`] (the signed-in account, its password and erasure, and the operators' account
//! lookup), [`app_tokens`] and [`pairing`] (kiosk and app pairing codes); this file registers them in
//! one order.

mod app_tokens;
mod pairing;
mod profile;
mod sessions;
mod shared;

pub(crate) use app_tokens::created_view;
pub use app_tokens::{AppTokenCreated, AppTokenPage, AppTokenView, CreateAppTokenRequest};
pub use pairing::{ClaimRequest, PairingCodeRequest, PairingCodeView};
pub use profile::{EraseAccountRequest, PasswordChangeRequest, PatchMeRequest, UserView};
pub use sessions::{LoginRequest, RefreshRequest, RegisterRequest, RegisterResponse, TokenPair};

use app_tokens::{create_app_token, list_app_tokens, revoke_app_token};
use pairing::{claim_pairing_code, create_pairing_code};
use profile::{admin_get_user, change_password, erase_me, get_me, patch_me};
use sessions::{login, logout, refresh_tokens, register};

/// Registers the account routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh_tokens)
        .service(logout)
        .service(get_me)
        .service(patch_me)
        .service(change_password)
        .service(erase_me)
        .service(create_app_token)
        .service(list_app_tokens)
        .service(revoke_app_token)
        .service(create_pairing_code)
        .service(claim_pairing_code)
        .service(admin_get_user);
}
