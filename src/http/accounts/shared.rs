//! Small helpers the account handlers share: turning collected field errors into one refusal,
//! password hashing and checking off the async workers, and the client address for throttling.

use crate::accounts::password::{self, Password};
use crate::error::{AppError, AppResult, FieldError};
use actix_web::{HttpRequest, web};

pub(super) fn fail_if_any(errors: Vec<FieldError>) -> AppResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

pub(super) async fn hash_password(pw: Password) -> AppResult<String> {
    web::block(move || password::hash(&pw)).await?
}

pub(super) async fn verify_password(pw: Password, stored: Option<String>) -> AppResult<bool> {
    Ok(web::block(move || password::verify(&pw, stored.as_deref())).await?)
}

pub(super) fn client_addr(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}
