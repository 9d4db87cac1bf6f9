//! Insights: what is behind `GET /v1/me/insights` and `GET /v1/me/programme`. The pure logic
//! (references, classification, trends, language, messages, goals) has no database or HTTP;
//! [`store`] and [`programme`] read the resident's data and keep the weekly plans.
//!
//! - [`reference`]: the one table of reference data. Every threshold, band and number used here
//!   lives there with its source (a published guideline, or a documented project convention), so
//!   a clinician can review it in one place.
//! - [`classify`]: a value's category against that table (JSH2019 blood pressure, JASSO BMI,
//!   AWGS 2019 gait speed, MHLW 2023 steps and sleep, the specific health checkup, the vascular age
//!   gap).
//! - [`trend`]: the direction and size of the change over the last 90 days, from weekly means.
//! - [`language`] and [`messages`]: `Accept-Language` negotiation and short plain-language
//!   messages in Japanese and English.
//! - [`goals`]: the weekly plan of 3–5 goals, the adaptive daily step goal, and whether a week
//!   meets a goal.
//!
//! Nothing here is a diagnosis: the categories orient, the messages suggest talking to a doctor
//! where a guideline would, and every response carries [`messages::disclaimer`].

pub mod classify;
pub mod goals;
pub mod language;
pub mod messages;
pub mod programme;
pub mod reference;
pub mod store;
pub mod trend;

pub use classify::{Classification, bmi, classify, classify_blood_pressure};
pub use goals::{
    CheckupKind, DayData, Goal, GoalInputs, GoalKind, GoalReason, StepGoal, StepGoalReason, WeekData, WeekOutcome,
    choose_goals, goal_met, step_goal, week_outcome,
};
pub use language::{Lang, negotiate};
pub use messages::{category_text, disclaimer, message, trend_text};
pub use reference::{Level, Metric, REFERENCES, Reference, THRESHOLDS, Threshold};
pub use trend::{Direction, Trend, trend};
