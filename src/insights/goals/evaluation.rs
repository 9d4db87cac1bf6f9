//! Weekly evaluation: a week's daily data, the progress towards a goal and whether the week meets
//! it.

use super::definitions::{CheckupKind, Goal, GoalKind};
use super::steps::WeekOutcome;

/// One local day of a week, as the programme sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayData {
    /// The day's step total, if any.
    pub steps: Option<f64>,
    /// Whether blood pressure was logged.
    pub blood_pressure_logged: bool,
    /// Whether weight was logged.
    pub weight_logged: bool,
    /// Minutes slept in the night ending that day, if recorded.
    pub sleep_minutes: Option<f64>,
}

/// One week (Monday to Sunday, local days) of the resident's data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekData {
    /// The seven days, Monday first.
    pub days: [DayData; 7],
    /// Checkups recorded during the week.
    pub checkups: Vec<CheckupKind>,
}

fn days_where(week: &WeekData, f: impl Fn(&DayData) -> bool) -> u32 {
    // At most seven.
    week.days.iter().filter(|d| f(d)).count() as u32
}

/// How a week went against a daily step goal, for [`step_goal`].
pub fn week_outcome(goal: u32, week: &WeekData) -> WeekOutcome {
    WeekOutcome {
        goal,
        days_met: days_where(week, |d| d.steps.is_some_and(|s| s >= f64::from(goal))),
        days_with_data: days_where(week, |d| d.steps.is_some()),
    }
}

/// How far a week's data has got with a goal: the days its daily part was done (a checkup: 1
/// once one of its kind is recorded during the week, else 0).
pub fn goal_progress(goal: &Goal, week: &WeekData) -> u32 {
    match &goal.kind {
        GoalKind::DailySteps { target_steps, .. } => week_outcome(*target_steps, week).days_met,
        GoalKind::LogBloodPressure => days_where(week, |d| d.blood_pressure_logged),
        GoalKind::LogWeight => days_where(week, |d| d.weight_logged),
        GoalKind::SleepDuration { min_minutes } => {
            days_where(week, |d| d.sleep_minutes.is_some_and(|m| m >= *min_minutes))
        }
        GoalKind::BookCheckup { checkup_kind } => u32::from(week.checkups.contains(checkup_kind)),
    }
}

/// Whether a week's data meets a goal: its daily part done on at least `target_days_per_week`
/// days (a checkup: recorded during the week).
pub fn goal_met(goal: &Goal, week: &WeekData) -> bool {
    goal_progress(goal, week) >= goal.target_days_per_week
}
