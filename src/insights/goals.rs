//! The weekly programme: the adaptive daily step goal ([`steps`]), the choice of 3–5 goals from what
//! is known of the resident ([`definitions`]), and whether a week's data meets a goal
//! ([`evaluation`], what `programme_goal` rules pay for). Everything is re-exported here. Every number
//! comes from [`reference`](super::reference).

mod definitions;
mod evaluation;
mod steps;

pub use definitions::{CheckupKind, Goal, GoalInputs, GoalKind, GoalReason, choose_goals};
pub use evaluation::{DayData, WeekData, goal_met, goal_progress, week_outcome};
pub use steps::{StepGoal, StepGoalReason, WeekOutcome, step_goal};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::classify::{Classification, classify, classify_blood_pressure};
    use crate::insights::reference::{
        ADULT_MIN_SLEEP_MINUTES, Metric, PROGRAMME, STEP_GOAL, STEP_GOAL_BOUNDS, step_goal_bounds,
    };
    use StepGoalReason::*;
    use chrono::NaiveDate;

    fn week(goal: u32, days_met: u32, days_with_data: u32) -> WeekOutcome {
        WeekOutcome {
            goal,
            days_met,
            days_with_data,
        }
    }

    fn after(goal: u32, days_met: u32, age: Option<u32>) -> StepGoal {
        step_goal(None, &[week(goal, days_met, 7)], age)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_first_goal_starts_a_little_above_the_recent_mean() {
        assert_eq!(
            step_goal(Some(5_300.0), &[], Some(40)),
            StepGoal {
                target: 6_000,
                reason: StartFromAverage
            }
        );
        assert_eq!(
            step_goal(Some(4_300.0), &[], None),
            StepGoal {
                target: 4_500,
                reason: StartFromAverage
            }
        );
        assert_eq!(
            step_goal(Some(500.0), &[], None),
            StepGoal {
                target: 2_000,
                reason: StartFromAverage
            }
        );
        assert_eq!(
            step_goal(Some(20_000.0), &[], Some(30)),
            StepGoal {
                target: 12_000,
                reason: CappedAtSafeMaximum
            }
        );
        assert_eq!(
            step_goal(Some(9_000.0), &[], Some(70)),
            StepGoal {
                target: 8_000,
                reason: CappedAtSafeMaximum
            }
        );
        assert_eq!(
            step_goal(None, &[], Some(30)),
            StepGoal {
                target: 6_000,
                reason: DefaultWithoutHistory
            }
        );
        assert_eq!(
            step_goal(None, &[], Some(65)),
            StepGoal {
                target: 4_000,
                reason: DefaultWithoutHistory
            }
        );
        assert_eq!(step_goal(Some(f64::NAN), &[], None).reason, DefaultWithoutHistory);
        // Past weeks take over from the mean.
        assert_eq!(
            step_goal(Some(9_000.0), &[week(5_000, 3, 7)], None),
            StepGoal {
                target: 5_000,
                reason: Held
            }
        );
    }

    #[test]
    fn the_goal_follows_the_last_week() {
        assert_eq!(
            after(6_000, 5, Some(40)),
            StepGoal {
                target: 7_000,
                reason: RaisedAfterSuccess
            }
        );
        assert_eq!(after(6_000, 7, None).target, 7_000);
        assert_eq!(
            after(6_000, 4, Some(40)),
            StepGoal {
                target: 6_000,
                reason: Held
            }
        );
        assert_eq!(
            after(6_000, 3, Some(40)),
            StepGoal {
                target: 6_000,
                reason: Held
            }
        );
        assert_eq!(
            after(6_000, 2, Some(40)),
            StepGoal {
                target: 5_000,
                reason: LoweredAfterMisses
            }
        );
        assert_eq!(after(6_000, 0, Some(40)).target, 5_000);
        // Too few days with data to judge: held, even with no day met.
        assert_eq!(
            step_goal(None, &[week(6_000, 0, 2)], None),
            StepGoal {
                target: 6_000,
                reason: Held
            }
        );
        assert_eq!(step_goal(None, &[week(6_000, 0, 3)], None).reason, LoweredAfterMisses);
        // Only the most recent week counts.
        let weeks = [week(5_000, 7, 7), week(6_000, 1, 7)];
        assert_eq!(step_goal(None, &weeks, None).target, 5_000);
    }

    #[test]
    fn bounds_hold_at_both_ends() {
        assert_eq!(
            after(12_000, 7, Some(30)),
            StepGoal {
                target: 12_000,
                reason: CappedAtSafeMaximum
            }
        );
        assert_eq!(
            after(11_000, 7, Some(30)),
            StepGoal {
                target: 12_000,
                reason: RaisedAfterSuccess
            }
        );
        assert_eq!(
            after(11_500, 7, Some(30)),
            StepGoal {
                target: 12_000,
                reason: CappedAtSafeMaximum
            }
        );
        assert_eq!(
            after(2_000, 0, Some(30)),
            StepGoal {
                target: 2_000,
                reason: Held
            }
        );
        assert_eq!(
            after(2_500, 0, Some(30)),
            StepGoal {
                target: 2_000,
                reason: LoweredAfterMisses
            }
        );
        // Turning 65 with a goal above the older adults' maximum brings it down.
        assert_eq!(
            after(10_000, 4, Some(65)),
            StepGoal {
                target: 8_000,
                reason: CappedAtSafeMaximum
            }
        );
    }

    #[test]
    fn from_65_the_steps_are_smaller_and_the_maximum_lower() {
        assert_eq!(
            after(5_000, 6, Some(65)),
            StepGoal {
                target: 5_500,
                reason: RaisedAfterSuccess
            }
        );
        assert_eq!(
            after(5_000, 1, Some(80)),
            StepGoal {
                target: 4_500,
                reason: LoweredAfterMisses
            }
        );
        assert_eq!(
            after(8_000, 7, Some(70)),
            StepGoal {
                target: 8_000,
                reason: CappedAtSafeMaximum
            }
        );
        assert_eq!(after(5_000, 6, Some(64)).target, 6_000);
    }

    /// Eight simulated weeks; each week's goal comes from the one before.
    fn simulate(age: Option<u32>, weeks: &[(u32, u32)]) -> Vec<StepGoal> {
        let mut history: Vec<WeekOutcome> = Vec::new();
        let mut goals = vec![step_goal(Some(5_000.0), &history, age)];
        for &(days_met, days_with_data) in weeks {
            let current = goals.last().unwrap().target;
            history.push(week(current, days_met, days_with_data));
            goals.push(step_goal(Some(5_000.0), &history, age));
        }
        goals
    }

    #[test]
    fn goal_adaptation_over_eight_simulated_weeks() {
        // met, met, missed, missed, middling, met, met, no data.
        let weeks = [(6, 7), (5, 7), (1, 7), (2, 6), (4, 7), (7, 7), (5, 5), (0, 1)];
        let expect = [
            RaisedAfterSuccess,
            RaisedAfterSuccess,
            LoweredAfterMisses,
            LoweredAfterMisses,
            Held,
            RaisedAfterSuccess,
            RaisedAfterSuccess,
            Held,
        ];
        for age in [Some(30), Some(70), None] {
            let bounds = step_goal_bounds(age);
            let goals = simulate(age, &weeks);
            assert_eq!(
                goals[0],
                StepGoal {
                    target: 5_500,
                    reason: StartFromAverage
                }
            );
            for (i, pair) in goals.windows(2).enumerate() {
                let (before, now) = (pair[0].target, pair[1].target);
                assert!((bounds.minimum..=bounds.maximum).contains(&now), "{age:?} week {i}");
                assert_eq!(now.abs_diff(before) % STEP_GOAL.round_to, 0);
                match expect[i] {
                    RaisedAfterSuccess => assert_eq!(now, before + bounds.raise_by, "{age:?} week {i}"),
                    LoweredAfterMisses => assert_eq!(now, before - bounds.lower_by, "{age:?} week {i}"),
                    _ => assert_eq!(now, before, "{age:?} week {i}"),
                }
                assert_eq!(pair[1].reason, expect[i], "{age:?} week {i}");
            }
        }
    }

    #[test]
    fn long_runs_settle_at_the_bounds() {
        for b in STEP_GOAL_BOUNDS {
            let age = b.min_age;
            let up = simulate(age, &[(7, 7); 20]);
            assert_eq!(
                up.last().unwrap(),
                &StepGoal {
                    target: b.maximum,
                    reason: CappedAtSafeMaximum
                }
            );
            assert!(up.windows(2).all(|p| p[1].target >= p[0].target));
            let down = simulate(age, &[(0, 7); 20]);
            assert_eq!(
                down.last().unwrap(),
                &StepGoal {
                    target: b.minimum,
                    reason: Held
                }
            );
            assert!(down.windows(2).all(|p| p[1].target <= p[0].target));
        }
    }

    fn inputs(age: Option<u32>) -> GoalInputs {
        GoalInputs {
            age,
            today: date("2026-06-29"),
            classifications: Vec::new(),
            last_specific_checkup: Some(date("2026-04-01")),
            last_blood_pressure: Some(date("2026-06-28")),
            last_weight: Some(date("2026-06-28")),
            step_goal: StepGoal {
                target: 7_000,
                reason: RaisedAfterSuccess,
            },
        }
    }

    fn codes(goals: &[Goal]) -> Vec<(&'static str, GoalReason)> {
        goals.iter().map(|g| (g.kind.code(), g.reason)).collect()
    }

    #[test]
    fn a_resident_with_nothing_to_watch_gets_steps_and_routine_checks() {
        let goals = choose_goals(&inputs(Some(45)));
        assert_eq!(
            codes(&goals),
            [
                ("daily_steps", GoalReason::KeepActive),
                ("log_weight", GoalReason::WeeklyWeightCheck),
                ("log_blood_pressure", GoalReason::WeeklyBloodPressureCheck),
            ]
        );
        assert_eq!(
            goals[0].kind,
            GoalKind::DailySteps {
                target_steps: 7_000,
                adjustment: RaisedAfterSuccess
            }
        );
        assert_eq!(goals[0].target_days_per_week, STEP_GOAL.raise_when_days_met_at_least);
    }

    #[test]
    fn action_level_areas_come_first_and_there_are_at_most_five() {
        let mut i = inputs(Some(50));
        i.classifications = vec![
            classify(Metric::SleepDuration, 300.0, i.age).unwrap(),
            classify(Metric::Bmi, 31.0, i.age).unwrap(),
            classify(Metric::DailySteps, 3_000.0, i.age).unwrap(),
            classify_blood_pressure(150.0, 95.0).unwrap(),
        ];
        i.last_specific_checkup = None;
        let goals = choose_goals(&i);
        assert_eq!(
            codes(&goals),
            [
                ("log_blood_pressure", GoalReason::BloodPressureHigh),
                ("log_weight", GoalReason::BmiAboveNormal),
                ("book_checkup", GoalReason::CheckupNotRecorded),
                ("daily_steps", GoalReason::StepsBelowRecommendation),
                ("sleep_duration", GoalReason::SleepShort),
            ]
        );
        assert_eq!(goals[0].target_days_per_week, PROGRAMME.bp_log_days_when_high);
        assert_eq!(
            goals[4].kind,
            GoalKind::SleepDuration {
                min_minutes: ADULT_MIN_SLEEP_MINUTES
            }
        );
    }

    #[test]
    fn reasons_follow_the_areas() {
        let mut i = inputs(Some(30));
        i.classifications = vec![
            classify(Metric::WalkingSpeed, 0.8, i.age).unwrap(),
            classify(Metric::DailySteps, 3_000.0, i.age).unwrap(),
            classify(Metric::VascularAgeGap, 12.0, i.age).unwrap(),
            classify(Metric::Bmi, 17.0, i.age).unwrap(),
        ];
        i.last_weight = None;
        let got = codes(&choose_goals(&i));
        assert_eq!(
            got,
            [
                ("log_blood_pressure", GoalReason::VascularAgeOlder),
                ("daily_steps", GoalReason::SlowWalkingSpeed),
                ("log_weight", GoalReason::BmiBelowNormal),
            ]
        );
        let mut i = inputs(Some(30));
        i.classifications = vec![classify_blood_pressure(125.0, 70.0).unwrap()];
        // 30 days ago is still recent…
        i.last_weight = Some(date("2026-05-30"));
        i.last_blood_pressure = None;
        assert_eq!(
            codes(&choose_goals(&i)),
            [
                ("log_blood_pressure", GoalReason::BloodPressureAboveNormal),
                ("daily_steps", GoalReason::KeepActive),
                ("log_weight", GoalReason::WeeklyWeightCheck),
            ]
        );
        // …31 days ago is not.
        i.classifications.clear();
        i.last_weight = Some(date("2026-05-29"));
        assert_eq!(
            codes(&choose_goals(&i)),
            [
                ("log_blood_pressure", GoalReason::BloodPressureNotLoggedRecently),
                ("daily_steps", GoalReason::KeepActive),
                ("log_weight", GoalReason::WeightNotLoggedRecently),
            ]
        );
    }

    #[test]
    fn checkup_reminder_only_when_overdue_or_missing_from_40_to_74() {
        let has = |age: Option<u32>, last: Option<&str>| {
            let mut i = inputs(age);
            i.last_specific_checkup = last.map(date);
            choose_goals(&i)
                .iter()
                .find(|g| g.kind.code() == "book_checkup")
                .map(|g| (g.reason, g.target_days_per_week))
        };
        // 2025-06-29 is 365 days before today; 2025-06-28 is 366.
        for age in [Some(40), Some(74)] {
            assert_eq!(has(age, None), Some((GoalReason::CheckupNotRecorded, 1)));
            assert_eq!(has(age, Some("2025-06-28")), Some((GoalReason::CheckupOverdue, 1)));
            assert_eq!(has(age, Some("2024-01-01")), Some((GoalReason::CheckupOverdue, 1)));
            assert_eq!(has(age, Some("2025-06-29")), None);
            assert_eq!(has(age, Some("2026-06-29")), None);
        }
        for age in [Some(39), Some(75), None] {
            assert_eq!(has(age, None), None);
            assert_eq!(has(age, Some("2020-01-01")), None);
        }
    }

    #[test]
    fn never_fewer_than_three_or_more_than_five_goals() {
        let bps = [None, Some((110.0, 70.0)), Some((135.0, 85.0)), Some((170.0, 100.0))];
        let bmis = [None, Some(17.0), Some(22.0), Some(27.0), Some(36.0)];
        let sleeps = [None, Some(300.0), Some(420.0)];
        let steps = [None, Some(3_000.0), Some(9_000.0)];
        let gaits = [None, Some(0.8), Some(1.2)];
        let gaps = [None, Some(-2.0), Some(5.0)];
        let checkups = [None, Some("2026-01-01"), Some("2024-01-01")];
        let logs = [None, Some("2026-06-28"), Some("2026-01-01")];
        let mut cases = 0;
        for age in [None, Some(30), Some(45), Some(70), Some(80)] {
            for bp in bps {
                for bmi in bmis {
                    for sleep in sleeps {
                        for (s, g) in steps.iter().flat_map(|s| gaits.map(|g| (s, g))) {
                            for gap in gaps {
                                for checkup in checkups {
                                    for log in logs {
                                        let mut i = inputs(age);
                                        let mut add = |c: Option<Classification>| i.classifications.extend(c);
                                        add(bp.and_then(|(s, d)| classify_blood_pressure(s, d)));
                                        add(bmi.and_then(|v| classify(Metric::Bmi, v, age)));
                                        add(sleep.and_then(|v| classify(Metric::SleepDuration, v, age)));
                                        add(s.and_then(|v| classify(Metric::DailySteps, v, age)));
                                        add(g.and_then(|v| classify(Metric::WalkingSpeed, v, age)));
                                        add(gap.and_then(|v| classify(Metric::VascularAgeGap, v, age)));
                                        i.last_specific_checkup = checkup.map(date);
                                        i.last_blood_pressure = log.map(date);
                                        i.last_weight = log.map(date);
                                        let goals = choose_goals(&i);
                                        assert!((3..=5).contains(&goals.len()), "{i:?}: {goals:?}");
                                        let mut kinds: Vec<_> = goals.iter().map(|g| g.kind.code()).collect();
                                        assert!(kinds.contains(&"daily_steps"));
                                        kinds.sort_unstable();
                                        kinds.dedup();
                                        assert_eq!(kinds.len(), goals.len());
                                        cases += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 10_000);
    }

    #[test]
    fn goals_are_checked_against_a_week() {
        let mut w = WeekData::default();
        for (i, d) in w.days.iter_mut().enumerate() {
            d.steps = Some(if i < 5 { 7_000.0 } else { 3_000.0 });
            d.blood_pressure_logged = i < 3;
            d.weight_logged = i == 6;
            d.sleep_minutes = (i < 4).then_some(360.0);
        }
        let g = |kind: GoalKind, days: u32| Goal {
            kind,
            reason: GoalReason::KeepActive,
            target_days_per_week: days,
        };
        let steps = |target_steps| GoalKind::DailySteps {
            target_steps,
            adjustment: Held,
        };
        assert!(goal_met(&g(steps(7_000), 5), &w));
        assert!(!goal_met(&g(steps(7_001), 5), &w));
        assert!(!goal_met(&g(steps(7_000), 6), &w));
        assert!(goal_met(&g(GoalKind::LogBloodPressure, 3), &w));
        assert!(!goal_met(&g(GoalKind::LogBloodPressure, 5), &w));
        assert!(goal_met(&g(GoalKind::LogWeight, 1), &w));
        assert!(!goal_met(&g(GoalKind::LogWeight, 3), &w));
        let sleep = |min_minutes| GoalKind::SleepDuration { min_minutes };
        assert!(goal_met(&g(sleep(360.0), 4), &w));
        assert!(!goal_met(&g(sleep(360.0), 5), &w));
        assert!(!goal_met(&g(sleep(361.0), 1), &w));
        let checkup = g(
            GoalKind::BookCheckup {
                checkup_kind: CheckupKind::SpecificHealthCheckup,
            },
            1,
        );
        assert!(!goal_met(&checkup, &w));
        w.checkups.push(CheckupKind::DentalCheckup);
        assert!(!goal_met(&checkup, &w));
        w.checkups.push(CheckupKind::SpecificHealthCheckup);
        assert!(goal_met(&checkup, &w));
        assert_eq!(week_outcome(7_000, &w), week(7_000, 5, 7));
        assert_eq!(week_outcome(1_000, &WeekData::default()), week(1_000, 0, 0));
    }

    #[test]
    fn codes_and_json_shape() {
        assert_eq!(
            CheckupKind::from_code("cancer_screening"),
            Some(CheckupKind::CancerScreening)
        );
        assert_eq!(CheckupKind::from_code("x"), None);
        let goals = choose_goals(&inputs(Some(45)));
        let json = serde_json::to_value(&goals[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "daily_steps", "target_steps": 7000, "adjustment": "raised_after_success",
                               "reason": "keep_active", "target_days_per_week": 5})
        );
        for g in &goals {
            assert_eq!(serde_json::to_value(g).unwrap()["kind"], g.kind.code());
        }
        let checkup = Goal {
            kind: GoalKind::BookCheckup {
                checkup_kind: CheckupKind::SpecificHealthCheckup,
            },
            reason: GoalReason::CheckupOverdue,
            target_days_per_week: 1,
        };
        assert_eq!(
            serde_json::to_value(&checkup).unwrap(),
            serde_json::json!({"kind": "book_checkup", "checkup_kind": "specific_health_checkup",
                               "reason": "checkup_overdue", "target_days_per_week": 1})
        );
    }
}
