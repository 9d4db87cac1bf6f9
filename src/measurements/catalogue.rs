//! The measurement catalogue: one table of definitions drives validation, the
//! `GET /v1/measurement-types` answer, export codes and the docs. Adding a type is one entry here
//! (plus a test).
//!
//! Units are UCUM codes. LOINC codes are given where LOINC has a code for the observation; types
//! and fields without one (vascular age, gait, capillary analysis, …) have a code in the project
//! code system [`KARADA_CODE_SYSTEM`]: the type's name, or `type.field` for a field. Exports and
//! imports (FHIR, Open mHealth, CSV) take every code and unit from here.

use serde::Serialize;
use utoipa::ToSchema;

/// The project's code system, for the types and fields LOINC has no code for. Its codes are the
/// type names (`vascular_age`) and, for fields, `type.field` (`gait.walking_speed_m_s`).
pub const KARADA_CODE_SYSTEM: &str = "https://karada.example/fhir/CodeSystem/measurement-type";
/// LOINC's FHIR system URI.
pub const LOINC_SYSTEM: &str = "http://loinc.org";
/// UCUM's FHIR system URI.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";
/// FHIR's observation-category code system.
pub const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// A code in a code system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code system's URI ([`LOINC_SYSTEM`] or [`KARADA_CODE_SYSTEM`]).
    pub system: &'static str,
    /// The code.
    pub code: String,
}

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

impl Category {
    /// Its code in FHIR's observation-category code system ([`CATEGORY_SYSTEM`]).
    pub fn code(self) -> &'static str {
        match self {
            Category::VitalSigns => "vital-signs",
            Category::Activity => "activity",
            Category::Exam => "exam",
            Category::Laboratory => "laboratory",
            Category::Procedure => "procedure",
        }
    }

    /// Its display name in that code system.
    pub fn display(self) -> &'static str {
        match self {
            Category::VitalSigns => "Vital Signs",
            Category::Activity => "Activity",
            Category::Exam => "Exam",
            Category::Laboratory => "Laboratory",
            Category::Procedure => "Procedure",
        }
    }
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
    simple(
        "body_height",
        "Body height",
        Some("8302-2"),
        Category::VitalSigns,
        &[with_loinc(num("cm", "Body height", "cm", 50.0, 250.0, true), "8302-2")],
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

/// The type a code names, and the field when the code names one of its fields rather than the
/// type (LOINC's body fat percentage is a field of `body_composition`). Type codes win.
pub fn find_by_code(system: &str, code: &str) -> Option<(&'static TypeDef, Option<&'static FieldDef>)> {
    let matches = |c: Code| c.system == system && c.code == code;
    if let Some(t) = CATALOGUE.iter().find(|t| matches(t.code())) {
        return Some((t, None));
    }
    CATALOGUE
        .iter()
        .find_map(|t| t.fields.iter().find(|f| matches(t.field_code(f))).map(|f| (t, Some(f))))
}

impl TypeDef {
    /// The definition of one of this type's fields.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The code of an observation of this type: its LOINC code, else its name in the project code
    /// system.
    pub fn code(&self) -> Code {
        match self.loinc {
            Some(code) => Code {
                system: LOINC_SYSTEM,
                code: code.to_owned(),
            },
            None => Code {
                system: KARADA_CODE_SYSTEM,
                code: self.name.to_owned(),
            },
        }
    }

    /// The code of one of its fields: the field's LOINC code, else `type.field` in the project
    /// code system.
    pub fn field_code(&self, field: &FieldDef) -> Code {
        match field.loinc {
            Some(code) => Code {
                system: LOINC_SYSTEM,
                code: code.to_owned(),
            },
            None => Code {
                system: KARADA_CODE_SYSTEM,
                code: format!("{}.{}", self.name, field.name),
            },
        }
    }

    /// Whether an observation of this type carries its one value itself (FHIR `value[x]`) rather
    /// than one component per field.
    pub fn single_valued(&self) -> bool {
        self.fields.len() == 1
    }

    /// The fields that hold numbers (the ones summaries and aggregates work on).
    pub fn numeric_fields(&self) -> impl Iterator<Item = &'static FieldDef> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Number { .. } | FieldKind::Integer { .. }))
    }
}

/// Units an import accepts besides the catalogue's own, as (catalogue unit, other UCUM unit,
/// factor): a value in the other unit times the factor is the value in the catalogue's unit.
/// `mmol/L` to `mg/dL` uses glucose's molar mass (180.156 g/mol): blood glucose is the only type in
/// `mg/dL`.
pub static UNIT_CONVERSIONS: &[(&str, &str, f64)] = &[
    ("kg", "g", 0.001),
    ("kg", "[lb_av]", 0.453_592_37),
    ("cm", "m", 100.0),
    ("cm", "mm", 0.1),
    ("cm", "[in_i]", 2.54),
    ("min", "h", 60.0),
    ("min", "s", 1.0 / 60.0),
    ("/min", "{beats}/min", 1.0),
    ("/min", "{beat}/min", 1.0),
    ("mg/dL", "mmol/L", 18.0156),
    ("m/s", "km/h", 1.0 / 3.6),
    ("L/min", "L/s", 60.0),
    ("{steps}", "1", 1.0),
    ("{steps}", "{step}", 1.0),
    ("{steps}/min", "/min", 1.0),
];

/// `value` given in the UCUM unit `from`, in the catalogue's unit `to`; `None` when no conversion
/// is known. Converted values are rounded to six decimals, so that a pound figure does not carry
/// binary noise into the record.
pub fn convert(value: f64, from: &str, to: &str) -> Option<f64> {
    if from == to {
        return Some(value);
    }
    UNIT_CONVERSIONS
        .iter()
        .find(|(t, f, _)| *t == to && *f == from)
        .map(|(_, _, k)| ((value * k) * 1e6).round() / 1e6)
}

/// An Open mHealth schema the import understands, and where its body keeps each field.
#[derive(Debug, Clone, Copy)]
pub struct OmhSchema {
    /// Schema name in the `omh` namespace, e.g. `body-weight`.
    pub name: &'static str,
    /// The catalogue type it maps to.
    pub kind: &'static str,
    /// (body property, catalogue field), e.g. (`body_weight`, `kg`).
    pub fields: &'static [(&'static str, &'static str)],
}

/// Namespace of the project's own Open mHealth-style schemas: the schema name is the type name and
/// each body property a field name (`{"value": …, "unit": …}` for quantities), so every type of
/// the catalogue can be imported as an Open mHealth data point.
pub const OMH_KARADA_NAMESPACE: &str = "karada";

/// The `omh` schemas that map to catalogue types.
pub static OMH_SCHEMAS: &[OmhSchema] = &[
    OmhSchema {
        name: "body-weight",
        kind: "body_weight",
        fields: &[("body_weight", "kg")],
    },
    OmhSchema {
        name: "body-height",
        kind: "body_height",
        fields: &[("body_height", "cm")],
    },
    OmhSchema {
        name: "blood-pressure",
        kind: "blood_pressure",
        fields: &[
            ("systolic_blood_pressure", "systolic_mmhg"),
            ("diastolic_blood_pressure", "diastolic_mmhg"),
        ],
    },
    OmhSchema {
        name: "heart-rate",
        kind: "heart_rate",
        fields: &[("heart_rate", "bpm")],
    },
    OmhSchema {
        name: "step-count",
        kind: "steps",
        fields: &[("step_count", "count")],
    },
    OmhSchema {
        name: "sleep-duration",
        kind: "sleep",
        fields: &[("sleep_duration", "duration_min")],
    },
    OmhSchema {
        name: "blood-glucose",
        kind: "blood_glucose",
        fields: &[("blood_glucose", "mg_dl")],
    },
    OmhSchema {
        name: "body-fat-percentage",
        kind: "body_composition",
        fields: &[("body_fat_percentage", "body_fat_pct")],
    },
];

/// Open mHealth unit names that are not UCUM codes, with the UCUM code they stand for.
pub static OMH_UNITS: &[(&str, &str)] = &[
    ("beats/min", "/min"),
    ("mmHg", "mm[Hg]"),
    ("lb", "[lb_av]"),
    ("in", "[in_i]"),
    ("steps", "{steps}"),
    ("steps/min", "{steps}/min"),
    ("sec", "s"),
];

/// The UCUM code of an Open mHealth unit name.
pub fn omh_unit(unit: &str) -> &str {
    OMH_UNITS.iter().find(|(o, _)| *o == unit).map_or(unit, |(_, u)| u)
}

/// The Open mHealth schema of a type: an `omh` schema where one exists, else the project's.
pub fn omh_schema_of(kind: &str) -> (&'static str, String) {
    match OMH_SCHEMAS.iter().find(|s| s.kind == kind) {
        Some(s) => ("omh", s.name.to_owned()),
        None => (OMH_KARADA_NAMESPACE, kind.to_owned()),
    }
}

/// The catalogue as a Markdown table, for `docs/MEASUREMENT-TYPES.md` (a test keeps that file equal
/// to this output, so the docs cannot drift from the code).
pub fn markdown() -> String {
    let mut out = format!(
        "# Measurement types\n\nGenerated from `src/measurements/catalogue.rs` by `karada measurement-types`; \
         do not edit by hand.\nUnits are UCUM; ranges are the plausible values accepted (outside them: 422).\n\n\
         ## Codes\n\n\
         Each type and each field has a code: its LOINC code (`{LOINC_SYSTEM}`) where LOINC has one, else a code in \
         the project code system `{KARADA_CODE_SYSTEM}` — the type's name, or `type.field` for a field. The \
         category is a code of FHIR's observation-category system (`{CATEGORY_SYSTEM}`).\n\n\
         In a FHIR export (`GET /v1/me/export?format=fhir`) each measurement is an `Observation` coded with the \
         type's code; a type with one field carries its value in `valueQuantity` (UCUM, system \
         `{UCUM_SYSTEM}`), a type with several fields has one `component` per field present, coded with the \
         field's code (`valueQuantity` for numbers, `valueString` for choices and digests, `valueDateTime` for \
         dates). `POST /v1/measurements/import` reads the same codes back, and also an `Observation` coded with \
         a field's code alone (e.g. LOINC 41982-0, body fat, as `body_composition`).\n"
    );
    for t in CATALOGUE {
        let code = t.code();
        let (ns, schema) = omh_schema_of(t.name);
        out.push_str(&format!(
            "\n## `{}` — {}\n\nCategory: {}. Code: {}. Open mHealth schema: `{ns}:{schema}`.{}\n\n\
             | field | required | unit | range | code | meaning |\n|---|---|---|---|---|---|\n",
            t.name,
            t.title,
            t.category.code(),
            if code.system == LOINC_SYSTEM {
                format!("LOINC {}", code.code)
            } else {
                format!("`{}` (project code system)", code.code)
            },
            if t.daily_total {
                " A daily total: one value per resident, source and local day."
            } else {
                ""
            },
        ));
        for f in t.fields {
            let range = match f.kind {
                FieldKind::Number { min, max } => format!("{min} – {max}"),
                FieldKind::Integer { min, max } => format!("{min} – {max} (whole)"),
                FieldKind::Choice { options } => options.join(", "),
                FieldKind::Date => "YYYY-MM-DD, not in the future".to_owned(),
                FieldKind::Sha256 => "64 hex characters".to_owned(),
            };
            let code = t.field_code(f);
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                f.name,
                if f.required { "yes" } else { "no" },
                f.unit.unwrap_or(""),
                range,
                if code.system == LOINC_SYSTEM {
                    format!("LOINC {}", code.code)
                } else {
                    format!("`{}`", code.code)
                },
                f.description
            ));
        }
    }
    out.push_str(
        "\n## Units accepted on import\n\nBesides each field's own unit, an import converts these (UCUM codes; \
         Open mHealth's `beats/min`, `mmHg`, `lb`, `in`, `steps`, `sec` are read as their UCUM equivalents):\n\n\
         | field unit | also accepted | factor |\n|---|---|---|\n",
    );
    for (to, from, k) in UNIT_CONVERSIONS {
        out.push_str(&format!("| {to} | {from} | × {} |\n", (k * 1e6).round() / 1e6));
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
            "body_height",
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
        assert_eq!(CATALOGUE.len(), 16);
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
        assert_eq!(find("body_height").and_then(|t| t.loinc), Some("8302-2"));
        let bp = find("blood_pressure").unwrap();
        assert_eq!(bp.field("systolic_mmhg").and_then(|f| f.loinc), Some("8480-6"));
        assert_eq!(bp.field("diastolic_mmhg").and_then(|f| f.loinc), Some("8462-4"));
    }
    #[test]
    fn codes_name_one_type_or_field_each() {
        for t in CATALOGUE {
            let code = t.code();
            assert_eq!(find_by_code(code.system, &code.code).map(|(d, _)| d.name), Some(t.name));
            for f in t.fields {
                let c = t.field_code(f);
                let (d, field) = find_by_code(c.system, &c.code).unwrap();
                assert_eq!(d.name, t.name, "{}", c.code);
                // A single-valued type's field may share the type's code; otherwise the field is found.
                if !(t.single_valued() && c == code) {
                    assert_eq!(field.map(|f| f.name), Some(f.name), "{}", c.code);
                }
            }
        }
        assert_eq!(
            find_by_code(LOINC_SYSTEM, "41982-0").map(|(t, f)| (t.name, f.map(|f| f.name))),
            Some(("body_composition", Some("body_fat_pct")))
        );
        assert_eq!(
            find_by_code(KARADA_CODE_SYSTEM, "gait.cadence_steps_min").map(|(t, _)| t.name),
            Some("gait")
        );
        assert!(find_by_code(LOINC_SYSTEM, "vascular_age").is_none());
    }

    #[test]
    fn open_mhealth_schemas_and_conversions_name_catalogue_fields_and_units() {
        for s in OMH_SCHEMAS {
            let t = find(s.kind).unwrap();
            for (_, field) in s.fields {
                assert!(t.field(field).is_some(), "{}.{field}", s.kind);
            }
        }
        let units: Vec<&str> = CATALOGUE.iter().flat_map(|t| t.fields).filter_map(|f| f.unit).collect();
        for (to, from, k) in UNIT_CONVERSIONS {
            assert!(units.contains(to), "{to}");
            assert!(
                !units.contains(from) || from == &"/min",
                "{from} is a field unit itself"
            );
            assert!(*k > 0.0);
        }
        assert_eq!(convert(150.0, "[lb_av]", "kg"), Some(68.038856));
        assert_eq!(convert(5.5, "mmol/L", "mg/dL"), Some(99.0858));
        assert_eq!(convert(61.0, "kg", "kg"), Some(61.0));
        assert_eq!(convert(1.0, "[lb_av]", "cm"), None);
        assert_eq!(omh_unit("beats/min"), "/min");
        assert_eq!(omh_unit("kg"), "kg");
    }
}
