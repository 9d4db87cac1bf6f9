//! Measurement routes: the [`catalogue`], single and batch [`uploads`], the resident's own
//! [`records`] (list, latest, one, delete) and the [`summary`] over a period. This file registers
//! them in one order.

mod catalogue;
mod records;
mod summary;
mod uploads;

pub use catalogue::Catalogue;
pub use records::{LatestView, ListQuery, MeasurementPage, MeasurementView};
pub(crate) use records::{ListRequest, uploader, view};
pub use summary::{Bucket, FieldStats, SummaryQuery, SummaryView};
pub use uploads::{BatchRequest, BatchResponse, ItemResultView, ItemStatus};
pub(crate) use uploads::{Tally, report};

use catalogue::measurement_types;
use records::{delete_measurement, get_measurement, latest_measurements, list_measurements};
use uploads::{create_batch, create_measurement};

/// Registers the measurement routes (fixed paths before `{id}`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(measurement_types)
        .service(create_measurement)
        .service(create_batch)
        .service(list_measurements)
        .service(latest_measurements)
        .service(summary::summary)
        .service(get_measurement)
        .service(delete_measurement);
}
