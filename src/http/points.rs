//! Points routes: the resident's balances, ledger and the rules they can earn by ([`resident`]),
//! and the operators' administration of reward rules and programmes ([`admin`]). This file registers
//! them in one order.

mod admin;
mod resident;

pub use admin::{ProgrammeAdmin, ProgrammesAdmin, RuleInput};
pub(crate) use resident::today_and_age;
pub use resident::{
    LedgerEntryView, LedgerPage, LedgerQuery, PointsView, ProgrammePoints, ProgrammeView, RuleView, RulesView,
};

use admin::{
    admin_create_programme, admin_create_rule, admin_list_programmes, admin_list_rules, admin_replace_rule,
    admin_retire_rule, admin_update_programme,
};
use resident::{get_ledger, get_points, get_rules};

/// Registers the points routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_points)
        .service(get_ledger)
        .service(get_rules)
        .service(admin_list_rules)
        .service(admin_create_rule)
        .service(admin_replace_rule)
        .service(admin_retire_rule)
        .service(admin_list_programmes)
        .service(admin_create_programme)
        .service(admin_update_programme);
}
