//! The measurement catalogue as served: every type with its fields, units and ranges.

use crate::measurements::catalogue::{self, TypeDef};
use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    /// Every accepted type with its fields, units (UCUM), plausible ranges and LOINC codes.
    pub types: Vec<TypeDef>,
}

/// The measurement catalogue.
#[utoipa::path(
    tag = "measurements",
    responses((status = 200, description = "Every measurement type", body = Catalogue))
)]
#[get("/v1/measurement-types")]
pub(super) async fn measurement_types() -> web::Json<Catalogue> {
    web::Json(Catalogue {
        types: catalogue::CATALOGUE.to_vec(),
    })
}
