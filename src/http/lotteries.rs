//! Lottery routes: residents list lotteries and buy tickets with points ([`resident`]); operators
//! create, change, close and draw them ([`admin`]). This file registers them in one order.

mod admin;
mod resident;

pub use admin::{DrawInput, DrawView, LotteryAdminView, LotteryInput};
pub use resident::{EntryInput, EntryView, LotteryStatus, LotteryView, MyEntryView};

use admin::{
    admin_close_lottery, admin_create_lottery, admin_delete_lottery, admin_draw_lottery, admin_get_lottery,
    admin_list_lotteries, admin_update_lottery,
};
use resident::{enter_lottery, get_lottery, list_lotteries, my_entries};

/// Registers the lottery routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_lotteries)
        .service(get_lottery)
        .service(enter_lottery)
        .service(my_entries)
        .service(admin_create_lottery)
        .service(admin_list_lotteries)
        .service(admin_get_lottery)
        .service(admin_update_lottery)
        .service(admin_delete_lottery)
        .service(admin_close_lottery)
        .service(admin_draw_lottery);
}
