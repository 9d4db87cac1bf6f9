//! The adaptive daily step goal: from the resident's recent steps and age to the next week's goal,
//! with the reason it was chosen.

use crate::insights::reference::{STEP_GOAL, step_goal_bounds};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How the daily step goal was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepGoalReason {
    /// A first goal: a little above the resident's recent daily mean.
    StartFromAverage,
    /// Raised after a week in which the goal was met on enough days.
    RaisedAfterSuccess,
    /// Lowered after a week in which the goal was met on few days.
    LoweredAfterMisses,
    /// Kept: a middling week, too few days of data to judge, or already at the safe minimum.
    Held,
    /// Kept at (or brought down to) the safe maximum for the resident's age.
    CappedAtSafeMaximum,
    /// Nothing is known of the resident's steps: the programme's default.
    DefaultWithoutHistory,
}

/// The daily step goal for the coming week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepGoal {
    /// Steps a day.
    pub target: u32,
    /// How it was set.
    pub reason: StepGoalReason,
}

/// How a past week went against its step goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekOutcome {
    /// The week's daily step goal.
    pub goal: u32,
    /// Days on which the steps reached the goal.
    pub days_met: u32,
    /// Days with a step count at all.
    pub days_with_data: u32,
}

/// `value` rounded to the nearest multiple of the step goal's rounding unit.
fn round_steps(value: f64) -> f64 {
    let unit = f64::from(STEP_GOAL.round_to);
    (value / unit).round() * unit
}

/// The daily step goal for the coming week, from the resident's recent daily mean and the past
/// weeks (most recent last).
///
/// Without past weeks the goal starts a little above the recent mean (or at the default when
/// there is none). After a week met on enough days it is raised, after a week met on few days
/// lowered, otherwise (or when the week had too few days of data to judge) held; always within
/// the safe bounds for the resident's age, which are lower, with smaller steps, from 65.
pub fn step_goal(recent_daily_mean: Option<f64>, previous_weeks: &[WeekOutcome], age: Option<u32>) -> StepGoal {
    let b = step_goal_bounds(age);
    let (proposed, reason, previous) = match previous_weeks.last() {
        Some(w) => {
            let (goal, reason) = if w.days_with_data < STEP_GOAL.min_days_with_data {
                (w.goal, StepGoalReason::Held)
            } else if w.days_met >= STEP_GOAL.raise_when_days_met_at_least {
                (w.goal.saturating_add(b.raise_by), StepGoalReason::RaisedAfterSuccess)
            } else if w.days_met <= STEP_GOAL.lower_when_days_met_at_most {
                (w.goal.saturating_sub(b.lower_by), StepGoalReason::LoweredAfterMisses)
            } else {
                (w.goal, StepGoalReason::Held)
            };
            (f64::from(goal), reason, Some(w.goal))
        }
        None => match recent_daily_mean.filter(|m| m.is_finite() && *m >= 0.0) {
            Some(mean) => {
                let start = mean * f64::from(100 + STEP_GOAL.start_above_mean_pct) / 100.0;
                (round_steps(start), StepGoalReason::StartFromAverage, None)
            }
            None => (f64::from(b.default), StepGoalReason::DefaultWithoutHistory, None),
        },
    };
    let (target, reason) = if proposed > f64::from(b.maximum) {
        (b.maximum, StepGoalReason::CappedAtSafeMaximum)
    } else if proposed < f64::from(b.minimum) {
        (b.minimum, reason)
    } else {
        // Within [minimum, maximum], both whole numbers of steps.
        (proposed as u32, reason)
    };
    // Lowering a goal already at the minimum leaves it where it was.
    let reason = if reason == StepGoalReason::LoweredAfterMisses && previous == Some(target) {
        StepGoalReason::Held
    } else {
        reason
    };
    StepGoal { target, reason }
}
