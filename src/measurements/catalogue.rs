//! The measurement catalogue: one table of definitions drives validation, the
//! `GET /v1/measurement-types` answer, export codes and the docs. Adding a type is one entry here
//! (plus a test).
//!
//! Units are UCUM codes. LOINC codes are given where LOINC has a code for the observation; types
//! without one (vascular age, gait, capillary analysis, …) use the project code system
//! [`KARADA_CODE_SYSTEM`] in exports.

use serde::Serialize;
use utoipa::ToSchema;

/// Code system for observations LOINC has no code for.
pub const KARADA_CODE_SYSTEM: &str = "urn:karada:measurement-type";

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FieldKind {
    /// A finite number within `[min, max]`.
    Number {
        /// Smallest plausible value.
        min: f64,
        /// Largest plausible value.
        max: f64,
    },
    /// A whole number within `[min, max]`.
    Integer {
        /// Smallest plausible value.
        min: i64,
        /// Largest plausible value.
        max: i64,
    },
    /// One of a fixed set of strings.
    Choice {
        /// The allowed values.
        #[schema(value_type = Vec<String>)]
        options: &'static [&'static str],
    },
    /// A calendar date `YYYY-MM-DD`, not in the future.
    Date,
    /// A SHA-256 digest: 64 hexadecimal characters.
    Sha256,
}

/// One value field of a measurement type.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct FieldDef {
    /// Key in `values`.
    pub name: &'static str,
    /// What the field means.
    pub description: &'static str,
    /// UCUM unit, when the field is a quantity.
    pub unit: Option<&'static str>,
    /// Whether the field must be present.
    pub required: bool,
    /// LOINC code of this component, where one exists.
    pub loinc: Option<&'static str>,
    /// Value kind and plausible range.
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// FHIR observation category a type belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Vital signs (weight, blood pressure, heart rate, …).
    VitalSigns,
    /// Physical activity (steps, sleep, gait).
    Activity,
    /// Examinations and assessments.
    Exam,
    /// Laboratory results (blood glucose).
    Laboratory,
    /// Procedures such as health checkups.
    Procedure,
}

/// A measurement type.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct TypeDef {
    /// Type name used in the API.
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// LOINC code of the observation (or panel), where one exists.
    pub loinc: Option<&'static str>,
    /// FHIR observation category.
    pub category: Category,
    /// A daily total: one value per resident, source and local day; a later upload replaces it.
    pub daily_total: bool,
    /// At least one of the optional fields must be present (for types whose fields are all optional).
    pub needs_some_field: bool,
    /// The value fields.
    #[schema(value_type = Vec<FieldDef>)]
    pub fields: &'static [FieldDef],
}

const fn num(
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
    required: bool,
) -> FieldDef {
    FieldDef {
        name,
        description,
        unit: Some(unit),
        required,
        loinc: None,
        kind: FieldKind::Number { min, max },
    }
}

const fn with_loinc(f: FieldDef, code: &'static str) -> FieldDef {
    FieldDef { loinc: Some(code), ..f }
}

const fn simple(
    name: &'static str,
    title: &'static str,
    loinc: Option<&'static str>,
    category: Category,
    fields: &'static [FieldDef],
) -> TypeDef {
    TypeDef {
        name,
        title,
        loinc,
        category,
        daily_total: false,
        needs_some_field: false,
        fields,
    }
}

/// Every measurement type the service accepts.
pub static CATALOGUE: &[TypeDef] = &[
    simple(
        "vascular_age",
        "Vascular age",
        None,
        Category::Exam,
        &[
            num(
                "vascular_age_years",
                "Vascular age estimated from the pulse wave",
                "a",
                10.0,
                120.0,
                true,
            ),
            num(
                "pulse_wave_velocity_cm_s",
                "Pulse wave velocity",
                "cm/s",
                300.0,
                4000.0,
                false,
            ),
        ],
    ),
    simple(
        "gait",
        "AI gait analysis",
        None,
        Category::Activity,
        &[
            num("walking_speed_m_s", "Walking speed", "m/s", 0.1, 3.0, true),
            num("stride_length_cm", "Stride length", "cm", 10.0, 250.0, true),
            num("cadence_steps_min", "Cadence", "{steps}/min", 20.0, 250.0, true),
            num("step_width_cm", "Step width", "cm", 0.0, 60.0, false),
            num("symmetry_pct", "Left-right symmetry", "%", 0.0, 100.0, false),
            num("gait_age_years", "Gait age", "a", 10.0, 120.0, false),
        ],
    ),
    simple(
        "capillary",
        "Capillary analysis",
        None,
        Category::Exam,
        &[
            num(
                "capillary_density_per_mm",
                "Nailfold capillary density",
                "/mm",
                0.0,
                30.0,
                true,
            ),
            num(
                "morphology_score",
                "Capillary morphology score",
                "{score}",
                0.0,
                100.0,
                true,
            ),
            num(
                "blood_flow_score",
                "Capillary blood flow score",
                "{score}",
                0.0,
                100.0,
                false,
            ),
            num("capillary_age_years", "Capillary age", "a", 10.0, 120.0, false),
            FieldDef {
                name: "image_sha256",
                description: "SHA-256 of the capillaroscope image kept by the kiosk",
                unit: None,
                required: false,
                loinc: None,
                kind: FieldKind::Sha256,
            },
        ],
    ),
    TypeDef {
        name: "steps",
        title: "Daily steps",
        loinc: Some("41950-7"),
        category: Category::Activity,
        daily_total: true,
        needs_some_field: false,
        fields: &[FieldDef {
            name: "count",
            description: "Steps in the local day",
            unit: Some("{steps}"),
            required: true,
            loinc: Some("41950-7"),
            kind: FieldKind::Integer { min: 0, max: 100_000 },
        }],
    },
    simple(
        "body_weight",
        "Body weight",
        Some("29463-7"),
        Category::VitalSigns,
        &[with_loinc(num("kg", "Body weight", "kg", 20.0, 300.0, true), "29463-7")],
    ),
    TypeDef {
        name: "body_composition",
        title: "Body composition",
        loinc: None,
        category: Category::Exam,
        daily_total: false,
        needs_some_field: true,
        fields: &[
            with_loinc(num("body_fat_pct", "Body fat", "%", 3.0, 70.0, false), "41982-0"),
            num("muscle_mass_kg", "Muscle mass", "kg", 5.0, 120.0, false),
            num("leg_score", "Leg-muscle score", "{score}", 0.0, 200.0, false),
        ],
    },
    simple(
        "blood_pressure",
        "Blood pressure",
        Some("85354-9"),
        Category::VitalSigns,
        &[
            with_loinc(
                num("systolic_mmhg", "Systolic blood pressure", "mm[Hg]", 60.0, 260.0, true),
                "8480-6",
            ),
            with_loinc(
                num(
                    "diastolic_mmhg",
                    "Diastolic blood pressure",
                    "mm[Hg]",
                    30.0,
                    160.0,
                    true,
                ),
                "8462-4",
            ),
        ],
    ),
    simple(
        "heart_rate",
        "Heart rate",
        Some("8867-4"),
        Category::VitalSigns,
        &[with_loinc(
            num("bpm", "Heart rate", "/min", 25.0, 250.0, true),
            "8867-4",
        )],
    ),
    simple(
        "sleep",
        "Sleep duration",
        Some("93832-4"),
        Category::Activity,
        &[with_loinc(
            num("duration_min", "Sleep duration", "min", 0.0, 1440.0, true),
            "93832-4",
        )],
    ),
    simple(
        "blood_glucose",
        "Blood glucose",
        Some("2339-0"),
        Category::Laboratory,
        &[with_loinc(
            num("mg_dl", "Glucose in blood", "mg/dL", 20.0, 600.0, true),
            "2339-0",
        )],
    ),
    simple(
        "dental",
        "Dental age",
        None,
        Category::Exam,
        &[num("dental_age_years", "Dental age", "a", 10.0, 120.0, true)],
    ),
    simple(
        "respiratory",
        "Peak expiratory flow",
        Some("19935-6"),
        Category::Exam,
        &[with_loinc(
            num("peak_flow_l_min", "Peak expiratory flow", "L/min", 50.0, 900.0, true),
            "19935-6",
        )],
    ),
    simple(
        "cognitive",
        "Cognitive function score",
        None,
        Category::Exam,
        &[num("score", "Cognitive function score", "{score}", 0.0, 100.0, true)],
    ),
    simple(
        "fatigue",
        "Fatigue score",
        None,
        Category::Exam,
        &[num("score", "Fatigue score", "{score}", 0.0, 100.0, true)],
    ),
    simple(
        "health_checkup",
        "Health checkup taken",
        None,
        Category::Procedure,
        &[
            FieldDef {
                name: "kind",
                description: "Which checkup",
                unit: None,
                required: true,
                loinc: None,
                kind: FieldKind::Choice {
                    options: &["specific_health_checkup", "cancer_screening", "dental_checkup"],
                },
            },
            FieldDef {
                name: "checkup_date",
                description: "Date the checkup was taken",
                unit: None,
                required: true,
                loinc: None,
                kind: FieldKind::Date,
            },
        ],
    ),
];

/// The definition of a type, by name.
pub fn find(name: &str) -> Option<&'static TypeDef> {
    CATALOGUE.iter().find(|t| t.name == name)
}

impl TypeDef {
    /// The definition of one of this type's fields.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields that hold numbers (the ones summaries and aggregates work on).
    pub fn numeric_fields(&self) -> impl Iterator<Item = &'static FieldDef> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Number { .. } | FieldKind::Integer { .. }))
    }
}

/// The catalogue as a Markdown table, for `docs/MEASUREMENT-TYPES.md` (a test keeps that file equal
/// to this output, so the docs cannot drift from the code).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Measurement types\n\nGenerated from `src/measurements/catalogue.rs` by `karada measurement-types`; \
         do not edit by hand.\nUnits are UCUM; ranges are the plausible values accepted (outside them: 422).\n",
    );
    for t in CATALOGUE {
        out.push_str(&format!(
            "\n## `{}` — {}\n\nCategory: {}. LOINC: {}.{}\n\n| field | required | unit | range | LOINC | meaning |\n|---|---|---|---|---|---|\n",
            t.name,
            t.title,
            serde_json::to_value(t.category).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            t.loinc.unwrap_or("none (project code system)"),
            if t.daily_total { " A daily total: one value per resident, source and local day." } else { "" },
        ));
        for f in t.fields {
            let range = match f.kind {
                FieldKind::Number { min, max } => format!("{min} – {max}"),
                FieldKind::Integer { min, max } => format!("{min} – {max} (whole)"),
                FieldKind::Choice { options } => options.join(", "),
                FieldKind::Date => "YYYY-MM-DD, not in the future".to_owned(),
                FieldKind::Sha256 => "64 hex characters".to_owned(),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                f.name,
                if f.required { "yes" } else { "no" },
                f.unit.unwrap_or(""),
                range,
                f.loinc.unwrap_or(""),
                f.description
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_fields_are_unique_within_a_type() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        for t in CATALOGUE {
            let mut f: Vec<_> = t.fields.iter().map(|f| f.name).collect();
            f.sort_unstable();
            f.dedup();
            assert_eq!(f.len(), t.fields.len(), "{}", t.name);
            assert!(!t.fields.is_empty());
        }
    }

    #[test]
    fn every_type_of_the_design_is_present() {
        for name in [
            "vascular_age",
            "gait",
            "capillary",
            "steps",
            "body_weight",
            "body_composition",
            "blood_pressure",
            "heart_rate",
            "sleep",
            "blood_glucose",
            "dental",
            "respiratory",
            "cognitive",
            "fatigue",
            "health_checkup",
        ] {
            assert!(find(name).is_some(), "{name} missing");
        }
        assert_eq!(CATALOGUE.len(), 15);
    }

    #[test]
    fn ranges_are_ordered_and_quantities_have_units() {
        for t in CATALOGUE {
            for f in t.fields {
                match f.kind {
                    FieldKind::Number { min, max } => {
                        assert!(min < max, "{}.{}", t.name, f.name);
                        assert!(f.unit.is_some(), "{}.{}", t.name, f.name);
                    }
                    FieldKind::Integer { min, max } => assert!(min < max),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn loinc_codes_of_the_common_vitals() {
        assert_eq!(find("body_weight").and_then(|t| t.loinc), Some("29463-7"));
        assert_eq!(find("blood_pressure").and_then(|t| t.loinc), Some("85354-9"));
        assert_eq!(find("heart_rate").and_then(|t| t.loinc), Some("8867-4"));
        assert_eq!(find("steps").and_then(|t| t.loinc), Some("41950-7"));
        let bp = find("blood_pressure").unwrap();
        assert_eq!(bp.field("systolic_mmhg").and_then(|f| f.loinc), Some("8480-6"));
        assert_eq!(bp.field("diastolic_mmhg").and_then(|f| f.loinc), Some("8462-4"));
    }
}
