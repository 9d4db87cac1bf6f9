//! The weekly programme: a plan of 3–5 goals per resident and local week (Monday to Sunday),
//! made the first time the week's plan is asked for and then kept, so the goals do not move under
//! the resident during the week and the next week's step goal can adapt to how this one went.
//! What a week's data meets is what `programme_goal` reward rules pay for.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use super::goals::{
    CheckupKind, DayData, Goal, GoalInputs, GoalKind, WeekData, WeekOutcome, choose_goals, goal_met, step_goal,
    week_outcome,
};
use super::store::{Subject, own_insights};
use crate::calendar::week_start;
use crate::db::schema::{measurements, programme_weeks};
use crate::db::types::Json;
use crate::db::{DbConn, Ts, UserId};
use crate::measurements::checkup_of;

/// How many earlier weeks the step goal looks back on (`goals::step_goal` adapts to the last).
const WEEKS_REMEMBERED: i64 = 1;

/// The measurement types whose data can meet a goal.
pub const GOAL_TYPES: [&str; 5] = ["steps", "blood_pressure", "body_weight", "sleep", "health_checkup"];

/// A stored week's plan.
#[derive(Debug, Clone)]
pub struct WeekPlan {
    /// The week's Monday (local).
    pub week_start: NaiveDate,
    /// The goals, most pressing first.
    pub goals: Vec<Goal>,
    /// When the plan was made.
    pub created_at: Ts,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = programme_weeks)]
#[diesel(treat_none_as_default_value = false)]
struct WeekRow {
    user_id: UserId,
    week_start: NaiveDate,
    goals: Json,
    created_at: Ts,
}

impl WeekRow {
    fn plan(self) -> QueryResult<WeekPlan> {
        let goals = serde_json::from_value(self.goals.0)
            .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
        Ok(WeekPlan {
            week_start: self.week_start,
            goals,
            created_at: self.created_at,
        })
    }
}

/// The resident's stored plans of the weeks from `from` to `to` (Mondays), oldest first. A plan
/// this version cannot read (written by another version) is treated as no plan, and logged, so
/// it never makes an upload fail.
fn plans(conn: &mut DbConn, user_id: UserId, from: NaiveDate, to: NaiveDate) -> QueryResult<Vec<WeekPlan>> {
    Ok(programme_weeks::table
        .filter(programme_weeks::user_id.eq(user_id))
        .filter(programme_weeks::week_start.between(from, to))
        .order(programme_weeks::week_start.asc())
        .select(WeekRow::as_select())
        .load(conn)?
        .into_iter()
        .filter_map(|row| {
            let week = row.week_start;
            row.plan()
                .map_err(|e| tracing::warn!(%week, error = %e, "unreadable weekly plan ignored"))
                .ok()
        })
        .collect())
}

/// The resident's data of the week starting `monday`, day by day: see [`weeks_data`].
pub fn week_data(conn: &mut DbConn, user_id: UserId, monday: NaiveDate) -> QueryResult<WeekData> {
    Ok(weeks_data(conn, user_id, &[monday])?
        .remove(&monday)
        .unwrap_or_default())
}

/// The resident's data of each week starting on one of `mondays`, day by day, from one read.
/// Two devices count the same walk or night: a day's steps are its largest source's total, its
/// sleep its largest source's sum of periods. A checkup counts in the week its `checkup_date`
/// falls in, whenever it was recorded (so recording an old checkup again meets no goal).
pub fn weeks_data(
    conn: &mut DbConn,
    user_id: UserId,
    mondays: &[NaiveDate],
) -> QueryResult<BTreeMap<NaiveDate, WeekData>> {
    let mut weeks: BTreeMap<NaiveDate, WeekData> = mondays.iter().map(|m| (*m, WeekData::default())).collect();
    let (Some(&first), Some(&last)) = (mondays.iter().min(), mondays.iter().max()) else {
        return Ok(weeks);
    };
    let sunday = last + Duration::days(6);
    let rows: Vec<(String, NaiveDate, String, Json)> = measurements::table
        .filter(measurements::user_id.eq(user_id))
        .filter(measurements::kind.eq_any(GOAL_TYPES))
        // A checkup's date may come before the day it was recorded on (never after: it is not in
        // the future), so checkups are read from the first week on.
        .filter(
            measurements::local_date.between(first, sunday).or(measurements::kind
                .eq("health_checkup")
                .and(measurements::local_date.gt(sunday))),
        )
        .select((
            measurements::kind,
            measurements::local_date,
            measurements::source,
            measurements::fields,
        ))
        .load(conn)?;
    let mut sleep: BTreeMap<(NaiveDate, String), f64> = BTreeMap::new();
    for (kind, day, source, fields) in rows {
        if kind == "health_checkup" {
            let (code, on) = fields.0.as_object().map(checkup_of).unwrap_or_default();
            if let (Some(on), Some(code)) = (on, code.and_then(CheckupKind::from_code))
                && let Some(week) = weeks.get_mut(&week_start(on))
            {
                week.checkups.push(code);
            }
            continue;
        }
        let number = |f: &str| fields.0.get(f).and_then(serde_json::Value::as_f64);
        if kind == "sleep" {
            if let Some(m) = number("duration_min") {
                *sleep.entry((day, source)).or_default() += m;
            }
            continue;
        }
        let Some(d) = day_of(&mut weeks, day) else { continue };
        match kind.as_str() {
            "steps" => {
                d.steps = match (d.steps, number("count")) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                }
            }
            "blood_pressure" => d.blood_pressure_logged = true,
            "body_weight" => d.weight_logged = true,
            _ => {}
        }
    }
    for ((day, _), minutes) in sleep {
        if let Some(d) = day_of(&mut weeks, day) {
            d.sleep_minutes = Some(d.sleep_minutes.map_or(minutes, |m| m.max(minutes)));
        }
    }
    Ok(weeks)
}

/// `day` in its week of `weeks`, if that week is one of them.
fn day_of(weeks: &mut BTreeMap<NaiveDate, WeekData>, day: NaiveDate) -> Option<&mut DayData> {
    let monday = week_start(day);
    let i = usize::try_from((day - monday).num_days()).ok()?;
    weeks.get_mut(&monday)?.days.get_mut(i)
}

/// How each week of a run of consecutive planned weeks ending the week before `monday` went
/// against its step goal, oldest first. A week without a plan ends the run: after a gap the
/// goal starts again from the resident's recent steps.
fn previous_outcomes(conn: &mut DbConn, user_id: UserId, monday: NaiveDate) -> QueryResult<Vec<WeekOutcome>> {
    let earlier = plans(
        conn,
        user_id,
        monday - Duration::weeks(WEEKS_REMEMBERED),
        monday - Duration::weeks(1),
    )?;
    let mut run: Vec<&WeekPlan> = Vec::new();
    let mut expected = monday - Duration::weeks(1);
    for p in earlier.iter().rev() {
        if p.week_start != expected {
            break;
        }
        run.push(p);
        expected -= Duration::weeks(1);
    }
    let mut out = Vec::new();
    for p in run.into_iter().rev() {
        let target = p.goals.iter().find_map(|g| match g.kind {
            GoalKind::DailySteps { target_steps, .. } => Some(target_steps),
            _ => None,
        });
        if let Some(target) = target {
            out.push(week_outcome(target, &week_data(conn, user_id, p.week_start)?));
        }
    }
    Ok(out)
}

/// This week's plan: the stored one, or one made now from the resident's insights and the weeks
/// before, and stored (a concurrent request that stored it first wins, and both answer its plan).
pub fn this_week(conn: &mut DbConn, subject: &Subject) -> QueryResult<WeekPlan> {
    let monday = week_start(subject.today);
    // One read decides: a plan readable now is the week's; a row this version cannot read (a plan
    // another version wrote) is rewritten below. Deciding from two reads would let a concurrent
    // first request's plan, committed between them, look unreadable and be overwritten.
    let stored: Option<WeekRow> = programme_weeks::table
        .filter(programme_weeks::user_id.eq(subject.user_id))
        .filter(programme_weeks::week_start.eq(monday))
        .select(WeekRow::as_select())
        .first(conn)
        .optional()?;
    let unreadable = match stored {
        None => None,
        Some(row) => {
            let made = row.created_at;
            match row.plan() {
                Ok(plan) => return Ok(plan),
                Err(e) => {
                    tracing::warn!(week = %monday, error = %e, "unreadable weekly plan replaced");
                    Some(made)
                }
            }
        }
    };
    let (insights, last) = own_insights(conn, subject)?;
    let age = subject.age();
    let previous = previous_outcomes(conn, subject.user_id, monday)?;
    let goals = choose_goals(&GoalInputs {
        age,
        today: subject.today,
        classifications: insights.iter().filter_map(|i| i.classification.clone()).collect(),
        last_specific_checkup: last.specific_checkup,
        last_blood_pressure: last.blood_pressure,
        last_weight: last.weight,
        step_goal: step_goal(last.recent_steps, &previous, age),
    });
    let row = WeekRow {
        user_id: subject.user_id,
        week_start: monday,
        goals: Json(serde_json::to_value(&goals).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?),
        created_at: Ts::now(),
    };
    if let Some(made) = unreadable {
        // Only the row that was read: a concurrent request that replaced it first wins.
        diesel::update(
            programme_weeks::table
                .filter(programme_weeks::user_id.eq(subject.user_id))
                .filter(programme_weeks::week_start.eq(monday))
                .filter(programme_weeks::created_at.eq(made)),
        )
        .set((
            programme_weeks::goals.eq(&row.goals),
            programme_weeks::created_at.eq(row.created_at),
        ))
        .execute(conn)?;
    } else {
        crate::on_backend!(conn, c => diesel::insert_into(programme_weeks::table).values(&row).on_conflict_do_nothing().execute(c))?;
    }
    plans(conn, subject.user_id, monday, monday)?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

/// For each of the given weeks (Mondays) that has a plan: the codes of its goals the week's data
/// meets so far. What `programme_goal` rules pay for; read in the upload's transaction, after its
/// measurements are written.
pub fn goals_met(
    conn: &mut DbConn,
    user_id: UserId,
    mondays: &[NaiveDate],
) -> QueryResult<BTreeMap<NaiveDate, Vec<&'static str>>> {
    let mut out = BTreeMap::new();
    let (Some(first), Some(last)) = (mondays.iter().min(), mondays.iter().max()) else {
        return Ok(out);
    };
    let planned: Vec<WeekPlan> = plans(conn, user_id, *first, *last)?
        .into_iter()
        .filter(|p| mondays.contains(&p.week_start))
        .collect();
    let weeks: Vec<NaiveDate> = planned.iter().map(|p| p.week_start).collect();
    let data = weeks_data(conn, user_id, &weeks)?;
    for plan in planned {
        let Some(week) = data.get(&plan.week_start) else {
            continue;
        };
        let met: Vec<&'static str> = plan
            .goals
            .iter()
            .filter(|g| goal_met(g, week))
            .map(|g| g.kind.code())
            .collect();
        if !met.is_empty() {
            out.insert(plan.week_start, met);
        }
    }
    Ok(out)
}

/// Deletes `user`'s weekly plans (their erasure).
pub fn forget(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    diesel::delete(programme_weeks::table.filter(programme_weeks::user_id.eq(user))).execute(conn)?;
    Ok(())
}
