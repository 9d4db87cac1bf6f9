//! Sharing routes: the resident's memberships, consents, receipts and access log, and the
//! individual reads an organisation's health staff make under consent. The handlers live by subject:
//! [`memberships`], [`consents`] (giving, listing, revoking, and their receipts), [`access_log`] and [`staff_reads`]; this file registers them in one order.
//!
//! Everything a resident does here needs a login session (`account` scope): an app token can
//! never join an organisation or give or revoke consent.

mod access_log;
mod consents;
mod memberships;
mod staff_reads;

pub use access_log::AccessView;
pub use consents::{
    ConsentInput, ConsentReceipt, ConsentView, ReceiptController, ReceiptPrivacy, ReceiptPurpose, ReceiptService,
};
pub use memberships::{JoinInput, MembershipView};
pub(crate) use staff_reads::staff_reader;

use consents::{get_consent, get_receipt, give_consent, list_consents, revoke_consent};
use memberships::{join, leave, list_memberships};
use staff_reads::member_measurements;

/// Registers the sharing routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(join)
        .service(list_memberships)
        .service(leave)
        .service(give_consent)
        .service(list_consents)
        .service(get_consent)
        .service(get_receipt)
        .service(revoke_consent)
        .service(access_log::access_log)
        .service(member_measurements);
}
