//! When a rule may pay, as the time of an upload decides: only for recent days (the programme's
//! award window, or the checkup window for checkups) of an account and a rule that already
//! existed then, so that backdated data cannot mint points.

use chrono::NaiveDate;

use super::evaluation::Fact;
use super::rules::{Rule, RuleKind};
use crate::measurements::checkup_of;

/// How many days old a checkup may be and still pay (its checkup window).
pub const CHECKUP_WINDOW_DAYS: i64 = 365;

/// What the time of an upload decides about paying for it: points are paid only for recent days
/// of an account and a rule that existed then, so backdated data cannot mint them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The resident's local day at upload.
    pub today: NaiveDate,
    /// The resident's local day on which the account was created.
    pub account_since: NaiveDate,
    /// The resident's timezone: a rule's creation instant is a local day in it.
    pub tz: chrono_tz::Tz,
}

impl Rule {
    /// The first local day (in `tz`) the rule pays for: the day it was created, or its
    /// `active_from` if later.
    pub fn took_effect(&self, tz: chrono_tz::Tz) -> NaiveDate {
        let created = self.created_at.0.with_timezone(&tz).date_naive();
        self.active_from.map_or(created, |from| from.max(created))
    }
}

/// Whether `day` is at most `days` days before `today` (and not after it).
fn within(day: NaiveDate, today: NaiveDate, days: i64) -> bool {
    day <= today && (today - day).num_days() <= days
}

/// Whether the rule may pay for `day` at all, as the upload's timing decides: `day` lies in the
/// programme's award window (at most `window_days` days before the upload's day), and neither the
/// account nor the rule came into being after it.
pub fn payable_on(rule: &Rule, window_days: i32, day: NaiveDate, t: &Timing) -> bool {
    within(day, t.today, i64::from(window_days)) && day >= t.account_since && day >= rule.took_effect(t.tz)
}

/// Whether the rule may pay for the fact, as the upload's timing decides ([`payable_on`] its day).
/// A checkup rule uses the checkup window instead: the checkup date at most 365 days before the
/// upload's day and on or after the day the rule took effect (a checkup taken before the account
/// existed still counts: taking it is what the rule pays for).
pub fn payable(rule: &Rule, window_days: i32, fact: &Fact<'_>, t: &Timing) -> bool {
    if let RuleKind::HealthCheckup { .. } = rule.kind
        && fact.kind == "health_checkup"
    {
        let taken = checkup_of(fact.values).1.unwrap_or(fact.local_date);
        return within(taken, t.today, CHECKUP_WINDOW_DAYS) && taken >= rule.took_effect(t.tz);
    }
    payable_on(rule, window_days, fact.local_date, t)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::db::Ts;
    use crate::points::evaluation::fixtures::fact;
    use crate::points::rules::fixtures::{day, rule};

    #[test]
    fn only_recent_days_of_an_existing_account_and_rule_pay() {
        let v = json!({"kg": 60.0}).as_object().cloned().unwrap();
        let mut r = rule(RuleKind::MeasurementLogged {
            measurement_type: "body_weight".into(),
            points: 1,
            max_per_day: 1,
        });
        let t = Timing {
            today: day("2026-12-02"),
            account_since: day("2026-11-01"),
            tz: chrono_tz::Asia::Tokyo,
        };
        let on = |d: &str| {
            let mut f = fact("body_weight", &v);
            f.local_date = day(d);
            f
        };
        assert!(payable(&r, 7, &on("2026-12-02"), &t));
        assert!(payable(&r, 7, &on("2026-11-25"), &t), "7 days before: inside");
        assert!(!payable(&r, 7, &on("2026-11-24"), &t), "8 days before: outside");
        assert!(!payable(&r, 7, &on("2026-12-03"), &t), "after the upload's day");
        assert!(payable(&r, 40, &on("2026-11-01"), &t));
        assert!(!payable(&r, 40, &on("2026-10-31"), &t), "before the account existed");
        // Created at 15:30 UTC on 28 November: already the 29th in Tokyo.
        r.created_at = Ts("2026-11-28T15:30:00Z".parse().unwrap());
        assert_eq!(r.took_effect(chrono_tz::Asia::Tokyo), day("2026-11-29"));
        assert!(!payable(&r, 7, &on("2026-11-28"), &t));
        assert!(payable(&r, 7, &on("2026-11-29"), &t));
        r.active_from = Some(day("2026-12-01"));
        assert!(!payable(&r, 7, &on("2026-11-30"), &t));
    }

    #[test]
    fn checkups_pay_by_their_checkup_date_within_a_year() {
        let taken = |d: &str| {
            json!({"kind": "specific_health_checkup", "checkup_date": d})
                .as_object()
                .cloned()
                .unwrap()
        };
        let r = rule(RuleKind::HealthCheckup {
            checkup_kind: "specific_health_checkup".into(),
            points: 10,
            max_per_year: 1,
        });
        let t = Timing {
            today: day("2026-12-02"),
            account_since: day("2026-12-02"),
            tz: chrono_tz::Asia::Tokyo,
        };
        // Recorded today, by an account made today: the checkup date decides.
        for (d, pays) in [("2025-12-02", true), ("2025-12-01", false), ("2026-06-01", true)] {
            let v = taken(d);
            assert_eq!(payable(&r, 7, &fact("health_checkup", &v), &t), pays, "{d}");
        }
        let mut late = r.clone();
        late.created_at = Ts("2026-07-01T00:00:00Z".parse().unwrap());
        let v = taken("2026-06-01");
        assert!(
            !payable(&late, 7, &fact("health_checkup", &v), &t),
            "before the rule took effect"
        );
    }
}
