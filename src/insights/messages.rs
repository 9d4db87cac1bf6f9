//! Short plain-language messages, in Japanese and English, for each category of the reference
//! table and each trend direction, for the weekly programme's goals, and the disclaimer every
//! insight carries.

use super::classify::Classification;
use super::goals::{CheckupKind, Goal, GoalKind, GoalReason, StepGoalReason};
use super::language::Lang;
use super::reference::{Metric, TREND};
use super::trend::Direction;

/// The disclaimer every insight and programme response carries.
pub fn disclaimer(lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => {
            "これは診断ではありません。測定値を公表された基準と比べた目安です。健康について気になることがあれば、\
             医師に相談するか健康診断を受けてください。"
        }
        Lang::En => {
            "This is not a diagnosis. It compares your measurements with published reference values as a guide; \
             if anything about your health concerns you, talk to a doctor or take a health checkup."
        }
    }
}

/// The text of `lang` from a (Japanese, English) pair.
fn pick((ja, en): (&'static str, &'static str), lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// The message of a category, as (Japanese, English); `None` for a category the table does not
/// have.
fn texts(metric: Metric, category: &str) -> Option<(&'static str, &'static str)> {
    use Metric::*;
    Some(match (metric, category) {
        (SystolicBp | DiastolicBp | BloodPressure, c) => match c {
            "normal" => (
                "血圧は正常血圧の範囲です。この調子を続けましょう。",
                "Your blood pressure is in the normal range. Keep it up.",
            ),
            "high_normal" => (
                "血圧は正常高値血圧の範囲です。減塩や運動など、生活習慣を見直すきっかけにしましょう。",
                "Your blood pressure is high-normal. Less salt and more activity help keep it in check.",
            ),
            "elevated" => (
                "血圧は高値血圧の範囲です。減塩・運動・節酒などの生活習慣の改善を心がけ、家庭でも血圧を測ってみましょう。",
                "Your blood pressure is elevated. Less salt, more activity and moderate drinking help; try measuring \
                 it at home too.",
            ),
            "grade_1_hypertension" => (
                "血圧はⅠ度高血圧の範囲です。家庭でも血圧を測り、医師に相談しましょう。",
                "Your blood pressure is in the grade I hypertension range. Keep measuring it at home and talk to a \
                 doctor about it.",
            ),
            "grade_2_hypertension" => (
                "血圧はⅡ度高血圧の範囲です。早めに医師に相談しましょう。",
                "Your blood pressure is in the grade II hypertension range. Please talk to a doctor soon.",
            ),
            "grade_3_hypertension" => (
                "血圧はⅢ度高血圧の範囲です。できるだけ早く医師に相談し、体調が悪いときはすぐに受診してください。",
                "Your blood pressure is in the grade III hypertension range. Please see a doctor as soon as you can, \
                 and straight away if you feel unwell.",
            ),
            _ => return None,
        },
        (Bmi, "underweight") => (
            "BMIは低体重（やせ）の範囲です。食事をしっかりとり、体重の変化に気をつけましょう。",
            "Your BMI is in the underweight range. Eat regular, balanced meals and keep an eye on your weight.",
        ),
        (Bmi, "normal") => (
            "BMIは普通体重の範囲です。今の体重を保ちましょう。",
            "Your BMI is in the normal range. Try to keep your weight where it is.",
        ),
        (Bmi, "obesity_class_1") => (
            "BMIは肥満（1度）の範囲です。食事と運動を少しずつ見直し、ゆっくり体重を減らしていきましょう。",
            "Your BMI is in the obesity class 1 range. Small changes to meals and activity can bring your weight \
             down gradually.",
        ),
        (Bmi, "obesity_class_2") => (
            "BMIは肥満（2度）の範囲です。無理のない減量の方法を医師に相談しましょう。",
            "Your BMI is in the obesity class 2 range. Talk to a doctor about a safe way to lose weight.",
        ),
        (Bmi, "obesity_class_3") => (
            "BMIは肥満（3度）の範囲です。体重と健康について医師に相談しましょう。",
            "Your BMI is in the obesity class 3 range. Please talk to a doctor about your weight and health.",
        ),
        (Bmi, "obesity_class_4") => (
            "BMIは肥満（4度）の範囲です。体重と健康について医師に相談しましょう。",
            "Your BMI is in the obesity class 4 range. Please talk to a doctor about your weight and health.",
        ),
        (WalkingSpeed, "slow") => (
            "歩く速さが、体力低下の目安とされる速さを下回っています。ウォーキングや足腰の筋力づくりを続けましょう。",
            "Your walking speed is below the speed used as a sign of reduced physical performance. Regular \
             walking and leg-strengthening exercise can help.",
        ),
        (WalkingSpeed, "normal") => (
            "歩く速さは目安の速さを上回っています。歩く習慣を続けましょう。",
            "Your walking speed is above the reference speed. Keep up your walking.",
        ),
        (VascularAgeGap, "younger_or_same") => (
            "血管年齢は実年齢と同じか、それより若めです。今の生活習慣を続けましょう。",
            "Your vascular age is about the same as or younger than your actual age. Keep up your healthy habits.",
        ),
        (VascularAgeGap, "older") => (
            "血管年齢が実年齢より高めです。運動、バランスのよい食事、禁煙など、血管をいたわる生活を心がけましょう。",
            "Your vascular age is somewhat above your actual age. Exercise, a balanced diet and not smoking help \
             keep blood vessels healthy.",
        ),
        (VascularAgeGap, "much_older") => (
            "血管年齢が実年齢よりかなり高めです。生活習慣を見直し、健康診断の際に医師に伝えてみましょう。",
            "Your vascular age is well above your actual age. Review your habits and mention it to a doctor at \
             your next checkup.",
        ),
        (DailySteps, "below_recommendation") => (
            "1日の歩数が、国の身体活動ガイドの目安に届いていません。まずは今より少し多く歩くことから始めましょう。",
            "Your daily steps are below the national physical activity guide's recommendation for your age. \
             Start by walking a little more than you do now.",
        ),
        (DailySteps, "meets_recommendation") => (
            "1日の歩数は、国の身体活動ガイドの目安を満たしています。この調子で続けましょう。",
            "Your daily steps meet the national physical activity guide's recommendation for your age. Keep it up.",
        ),
        (SleepDuration, "short") => (
            "睡眠時間が、国の睡眠ガイドの目安より短めです。寝る時刻を少し早めてみましょう。",
            "You are sleeping less than the national sleep guide recommends. Try going to bed a little earlier.",
        ),
        (SleepDuration, "meets_recommendation") => (
            "睡眠時間は、国の睡眠ガイドの目安を満たしています。規則正しい睡眠を続けましょう。",
            "Your sleep time meets the national sleep guide's recommendation. Keep a regular sleep rhythm.",
        ),
        (CheckupAgeDays, "up_to_date") => (
            "特定健診をこの1年のうちに受けています。毎年の受診を続けましょう。",
            "You have had your specific health checkup within the last year. Keep taking it every year.",
        ),
        (CheckupAgeDays, "overdue") => (
            "前回の特定健診から1年以上たっています。今年度の健診を予約しましょう。",
            "It has been more than a year since your last specific health checkup. Book this year's checkup.",
        ),
        _ => return None,
    })
}

/// The message of a category of a metric; `None` for a category the reference table does not have.
pub fn category_text(metric: Metric, category: &str, lang: Lang) -> Option<&'static str> {
    texts(metric, category).map(|t| pick(t, lang))
}

/// One sentence on the trend over the window.
pub fn trend_text(direction: Direction, lang: Lang) -> String {
    let days = TREND.window_days;
    match (direction, lang) {
        (Direction::Rising, Lang::Ja) => format!("この{days}日間は上昇傾向です。"),
        (Direction::Rising, Lang::En) => format!("Over the last {days} days it has been going up."),
        (Direction::Falling, Lang::Ja) => format!("この{days}日間は低下傾向です。"),
        (Direction::Falling, Lang::En) => format!("Over the last {days} days it has been going down."),
        (Direction::Flat, Lang::Ja) => format!("この{days}日間は大きな変化はありません。"),
        (Direction::Flat, Lang::En) => format!("Over the last {days} days it has stayed about the same."),
        (Direction::InsufficientData, Lang::Ja) => "変化の傾向を見るには、まだ測定の回数が足りません。".to_owned(),
        (Direction::InsufficientData, Lang::En) => "There are not yet enough measurements to show a trend.".to_owned(),
    }
}

/// The message of a classification, followed by a sentence on its trend when one is given.
pub fn message(c: &Classification, trend: Option<Direction>, lang: Lang) -> String {
    let mut out = category_text(c.metric, c.category, lang).unwrap_or_default().to_owned();
    if let Some(d) = trend {
        if !out.is_empty() && lang == Lang::En {
            out.push(' ');
        }
        out.push_str(&trend_text(d, lang));
    }
    out
}

/// `n` with a comma between each group of three digits (`7500` → `7,500`).
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and an English unit, plural unless `n` is 1 (`5 days`, `1 night`).
fn count(n: u32, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A length of sleep: in hours when a whole number of hours, otherwise in minutes.
fn sleep_length(minutes: f64, lang: Lang) -> String {
    // Whole minutes; a negative or NaN length (never set by the programme) shows as 0.
    let m = minutes.round() as u32;
    match (m.is_multiple_of(60), lang) {
        (true, Lang::Ja) => format!("{}時間", m / 60),
        (true, Lang::En) => count(m / 60, "hour"),
        (false, Lang::Ja) => format!("{m}分"),
        (false, Lang::En) => count(m, "minute"),
    }
}

/// What a goal asks of the resident this week, in one sentence (e.g. "Walk at least 7,500 steps
/// on 5 days this week.").
pub fn goal_text(goal: &Goal, lang: Lang) -> String {
    let d = goal.target_days_per_week;
    match (&goal.kind, lang) {
        (GoalKind::DailySteps { target_steps, .. }, Lang::Ja) => {
            format!("今週は{d}日、1日{}歩以上歩きましょう。", thousands(*target_steps))
        }
        (GoalKind::DailySteps { target_steps, .. }, Lang::En) => format!(
            "Walk at least {} steps on {} this week.",
            thousands(*target_steps),
            count(d, "day")
        ),
        (GoalKind::LogBloodPressure, Lang::Ja) => format!("今週は{d}日、血圧を記録しましょう。"),
        (GoalKind::LogBloodPressure, Lang::En) => format!("Log your blood pressure on {} this week.", count(d, "day")),
        (GoalKind::LogWeight, Lang::Ja) => format!("今週は{d}日、体重を記録しましょう。"),
        (GoalKind::LogWeight, Lang::En) => format!("Log your weight on {} this week.", count(d, "day")),
        (GoalKind::SleepDuration { min_minutes }, Lang::Ja) => format!(
            "今週は{d}日、{}以上の睡眠をとりましょう。",
            sleep_length(*min_minutes, lang)
        ),
        (GoalKind::SleepDuration { min_minutes }, Lang::En) => format!(
            "Sleep at least {} on {} this week.",
            sleep_length(*min_minutes, lang),
            count(d, "night")
        ),
        (GoalKind::BookCheckup { checkup_kind }, _) => pick(
            match checkup_kind {
                CheckupKind::SpecificHealthCheckup => (
                    "特定健診を予約し、受けたら記録しましょう。",
                    "Book your specific health checkup (特定健診) and record it when done.",
                ),
                CheckupKind::CancerScreening => (
                    "がん検診を予約し、受けたら記録しましょう。",
                    "Book your cancer screening and record it when done.",
                ),
                CheckupKind::DentalCheckup => (
                    "歯科健診を予約し、受けたら記録しましょう。",
                    "Book your dental checkup and record it when done.",
                ),
            },
            lang,
        )
        .to_owned(),
    }
}

/// Why a goal was chosen, in one sentence; the reasons of an action-level area suggest a doctor.
pub fn reason_text(reason: GoalReason, lang: Lang) -> &'static str {
    use GoalReason::*;
    let texts = match reason {
        BloodPressureHigh => (
            "最新の血圧が高血圧の範囲（JSH2019）にあるので、家庭で測った記録を医師との相談に役立てましょう。",
            "Your latest blood pressure is in a hypertension range (JSH2019); regular home readings help you and \
             your doctor.",
        ),
        BloodPressureAboveNormal => (
            "最新の血圧が正常高値または高値の範囲にあるので、家庭で測って変化を見ていきましょう。",
            "Your latest blood pressure is high-normal or elevated; measuring it at home shows how it changes.",
        ),
        VascularAgeOlder => (
            "血管年齢が実年齢より高めなので、血圧を測って様子を見ていきましょう。",
            "Your vascular age is above your actual age, so your blood pressure is worth keeping an eye on.",
        ),
        BloodPressureNotLoggedRecently => (
            "最近の血圧の記録がないので、ときどき測って様子を確かめましょう。",
            "There is no recent blood pressure reading; one now and then shows how you are doing.",
        ),
        CheckupOverdue => (
            "前回の特定健診から1年以上たっているので、毎年受けて体の変化に早く気づけるようにしましょう。",
            "It has been more than a year since your last specific health checkup; a yearly checkup helps catch \
             changes early.",
        ),
        CheckupNotRecorded => (
            "特定健診の記録がまだありませんが、40〜74歳の方は毎年受けられます。",
            "No specific health checkup is recorded yet; it is offered every year from age 40 to 74.",
        ),
        SlowWalkingSpeed => (
            "歩く速さが目安の速さを下回っているので、毎日歩いて足腰の力を保ちましょう。",
            "Your walking speed is below the reference speed; walking every day helps keep your legs strong.",
        ),
        StepsBelowRecommendation => (
            "1日の歩数が国の身体活動ガイドの目安に届いていないので、少しずつ増やしていきましょう。",
            "Your daily steps are below the national physical activity guide's recommendation for your age; a \
             little more each day adds up.",
        ),
        KeepActive => (
            "毎日歩く習慣は、健康を保ついちばん身近な方法です。",
            "Walking every day is one of the simplest ways to stay healthy.",
        ),
        BmiAboveNormal => (
            "BMIが普通体重の範囲を上回っているので、体重を記録して変化を確かめ、無理のない減量について医師にも相談しましょう。",
            "Your BMI is above the normal range; regular weigh-ins show your progress, and a doctor can advise on \
             a safe pace.",
        ),
        BmiBelowNormal => (
            "BMIが普通体重の範囲を下回っているので、体重を記録して変化に早く気づけるようにしましょう。",
            "Your BMI is below the normal range; regular weigh-ins help you notice changes early.",
        ),
        WeightNotLoggedRecently => (
            "最近の体重の記録がないので、ときどき量って様子を確かめましょう。",
            "There is no recent weight reading; a weigh-in now and then shows how you are doing.",
        ),
        SleepShort => (
            "睡眠時間が国の睡眠ガイドの目安より短めなので、少し長めに眠れるようにしてみましょう。",
            "You are sleeping less than the national sleep guide recommends; a little more sleep helps your body \
             recover.",
        ),
        WeeklyWeightCheck => (
            "週に1回体重を量ると、変化に早く気づけます。",
            "A quick weekly weigh-in helps you notice changes early.",
        ),
        WeeklyBloodPressureCheck => (
            "週に1回血圧を測ると、変化に早く気づけます。",
            "A quick weekly blood pressure reading helps you notice changes early.",
        ),
    };
    pick(texts, lang)
}

/// How the daily step goal was set, in one short sentence.
pub fn step_adjustment_text(reason: StepGoalReason, lang: Lang) -> &'static str {
    use StepGoalReason::*;
    let texts = match reason {
        StartFromAverage => (
            "最近の1日の平均歩数より少し多めに設定しました。",
            "Set a little above your recent daily average.",
        ),
        RaisedAfterSuccess => (
            "先週はほとんどの日で目標を達成したので、少し上げました。",
            "Raised because you met last week's goal on most days.",
        ),
        LoweredAfterMisses => (
            "先週は目標に届かない日が多かったので、少し下げました。",
            "Lowered a little after a harder week.",
        ),
        Held => ("先週と同じ目標にしました。", "Kept at last week's level."),
        CappedAtSafeMaximum => (
            "年齢に応じた無理のない上限にしています。",
            "Kept at the safe maximum for your age.",
        ),
        DefaultWithoutHistory => (
            "まだ歩数の記録がないので、はじめの目標です。",
            "A starting goal, as there are no step counts yet.",
        ),
    };
    pick(texts, lang)
}

/// What an area says when it has no classification: what is missing for one.
pub fn unclassified_text(area: crate::insights::store::Area, lang: Lang) -> &'static str {
    use crate::insights::store::Area;
    pick(
        match area {
            Area::Vascular => (
                "血管年齢の差を見るには生年月日が必要です。",
                "The vascular age gap needs a date of birth.",
            ),
            Area::BloodPressure | Area::Gait => (
                "最新の測定値を区分できませんでした。",
                "The latest measurement could not be classified.",
            ),
            Area::BodyComposition => (
                "BMIの区分を見るには、体重と身長を記録してください。",
                "Record your weight and height to see your BMI category.",
            ),
            Area::Activity => (
                "この28日間の歩数の記録がありません。",
                "There are no step counts from the last 28 days.",
            ),
            Area::Sleep => (
                "この28日間の睡眠の記録がありません。",
                "There is no sleep recorded in the last 28 days.",
            ),
            Area::Checkups => (
                "特定健診の目安は40歳から74歳の方が対象です。",
                "The specific health checkup reference applies from 40 to 74 years of age.",
            ),
        },
        lang,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::classify::{classify, classify_blood_pressure};
    use crate::insights::reference::THRESHOLDS;

    fn has_japanese(s: &str) -> bool {
        s.chars()
            .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
    }

    #[test]
    fn every_category_of_the_table_has_a_message_in_both_languages() {
        for t in THRESHOLDS {
            let ja = category_text(t.metric, t.category, Lang::Ja).unwrap_or_default();
            let en = category_text(t.metric, t.category, Lang::En).unwrap_or_default();
            assert!(has_japanese(ja), "{:?} {} ja", t.metric, t.category);
            assert!(!en.is_empty() && en.is_ascii(), "{:?} {} en", t.metric, t.category);
            // Blood pressure as a whole uses the same messages.
            if matches!(t.metric, Metric::SystolicBp | Metric::DiastolicBp) {
                assert!(category_text(Metric::BloodPressure, t.category, Lang::En).is_some());
            }
        }
        assert_eq!(category_text(Metric::Bmi, "nonsense", Lang::En), None);
        assert_eq!(category_text(Metric::BodyWeight, "normal", Lang::Ja), None);
    }

    #[test]
    fn action_level_messages_suggest_a_doctor() {
        for t in THRESHOLDS
            .iter()
            .filter(|t| t.level == crate::insights::reference::Level::Action)
        {
            assert!(
                category_text(t.metric, t.category, Lang::Ja).unwrap().contains("医師"),
                "{}",
                t.category
            );
            assert!(
                category_text(t.metric, t.category, Lang::En)
                    .unwrap()
                    .contains("doctor"),
                "{}",
                t.category
            );
        }
    }

    #[test]
    fn trend_and_disclaimer_texts() {
        for d in [
            Direction::Rising,
            Direction::Falling,
            Direction::Flat,
            Direction::InsufficientData,
        ] {
            assert!(has_japanese(&trend_text(d, Lang::Ja)));
            assert!(trend_text(d, Lang::En).is_ascii());
        }
        assert!(disclaimer(Lang::Ja).starts_with("これは診断ではありません。"));
        assert!(disclaimer(Lang::En).starts_with("This is not a diagnosis."));
        assert!(disclaimer(Lang::Ja).contains("医師") && disclaimer(Lang::En).contains("doctor"));
    }

    #[test]
    fn a_message_joins_category_and_trend() {
        let c = classify_blood_pressure(135.0, 82.0).unwrap();
        assert_eq!(
            message(&c, Some(Direction::Rising), Lang::En),
            "Your blood pressure is elevated. Less salt, more activity and moderate drinking help; try measuring \
             it at home too. Over the last 90 days it has been going up."
        );
        let c = classify(Metric::Bmi, 22.0, None).unwrap();
        assert_eq!(
            message(&c, Some(Direction::Flat), Lang::Ja),
            "BMIは普通体重の範囲です。今の体重を保ちましょう。この90日間は大きな変化はありません。"
        );
        assert_eq!(
            message(&c, None, Lang::En),
            "Your BMI is in the normal range. Try to keep your weight where it is."
        );
    }

    const REASONS: [GoalReason; 15] = {
        use GoalReason::*;
        [
            BloodPressureHigh,
            BloodPressureAboveNormal,
            VascularAgeOlder,
            BloodPressureNotLoggedRecently,
            CheckupOverdue,
            CheckupNotRecorded,
            SlowWalkingSpeed,
            StepsBelowRecommendation,
            KeepActive,
            BmiAboveNormal,
            BmiBelowNormal,
            WeightNotLoggedRecently,
            SleepShort,
            WeeklyWeightCheck,
            WeeklyBloodPressureCheck,
        ]
    };

    const ADJUSTMENTS: [StepGoalReason; 6] = {
        use StepGoalReason::*;
        [
            StartFromAverage,
            RaisedAfterSuccess,
            LoweredAfterMisses,
            Held,
            CappedAtSafeMaximum,
            DefaultWithoutHistory,
        ]
    };

    fn goal(kind: GoalKind, days: u32) -> Goal {
        Goal {
            kind,
            reason: GoalReason::KeepActive,
            target_days_per_week: days,
        }
    }

    #[test]
    fn every_reason_and_adjustment_has_text_in_both_languages() {
        let ja = REASONS.map(|r| reason_text(r, Lang::Ja));
        let en = REASONS.map(|r| reason_text(r, Lang::En));
        let ja_steps = ADJUSTMENTS.map(|r| step_adjustment_text(r, Lang::Ja));
        let en_steps = ADJUSTMENTS.map(|r| step_adjustment_text(r, Lang::En));
        for t in ja.iter().chain(&ja_steps) {
            assert!(has_japanese(t) && t.ends_with('。'), "{t}");
        }
        for t in en.iter().chain(&en_steps) {
            assert!(!t.is_empty() && t.is_ascii() && t.ends_with('.'), "{t}");
        }
        // No two reasons or adjustments share a text.
        for texts in [&ja[..], &en[..], &ja_steps[..], &en_steps[..]] {
            let mut sorted = texts.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), texts.len());
        }
    }

    #[test]
    fn the_action_level_reason_suggests_a_doctor() {
        for r in [GoalReason::BloodPressureHigh, GoalReason::BmiAboveNormal] {
            assert!(reason_text(r, Lang::Ja).contains("医師"), "{r:?}");
            assert!(reason_text(r, Lang::En).contains("doctor"), "{r:?}");
        }
    }

    #[test]
    fn goal_texts_name_the_target_and_the_days() {
        let steps = |target_steps| GoalKind::DailySteps {
            target_steps,
            adjustment: StepGoalReason::Held,
        };
        let cases = [
            (
                goal(steps(7_500), 5),
                "今週は5日、1日7,500歩以上歩きましょう。",
                "Walk at least 7,500 steps on 5 days this week.",
            ),
            (
                goal(steps(12_000), 1),
                "今週は1日、1日12,000歩以上歩きましょう。",
                "Walk at least 12,000 steps on 1 day this week.",
            ),
            (
                goal(GoalKind::LogBloodPressure, 3),
                "今週は3日、血圧を記録しましょう。",
                "Log your blood pressure on 3 days this week.",
            ),
            (
                goal(GoalKind::LogWeight, 1),
                "今週は1日、体重を記録しましょう。",
                "Log your weight on 1 day this week.",
            ),
            (
                goal(GoalKind::SleepDuration { min_minutes: 360.0 }, 5),
                "今週は5日、6時間以上の睡眠をとりましょう。",
                "Sleep at least 6 hours on 5 nights this week.",
            ),
            (
                goal(GoalKind::SleepDuration { min_minutes: 390.0 }, 1),
                "今週は1日、390分以上の睡眠をとりましょう。",
                "Sleep at least 390 minutes on 1 night this week.",
            ),
            (
                goal(
                    GoalKind::BookCheckup {
                        checkup_kind: CheckupKind::SpecificHealthCheckup,
                    },
                    1,
                ),
                "特定健診を予約し、受けたら記録しましょう。",
                "Book your specific health checkup (特定健診) and record it when done.",
            ),
        ];
        for (g, ja, en) in cases {
            assert_eq!(goal_text(&g, Lang::Ja), ja);
            assert_eq!(goal_text(&g, Lang::En), en);
        }
        for checkup_kind in [CheckupKind::CancerScreening, CheckupKind::DentalCheckup] {
            let g = goal(GoalKind::BookCheckup { checkup_kind }, 1);
            assert!(has_japanese(&goal_text(&g, Lang::Ja)));
            assert!(goal_text(&g, Lang::En).starts_with("Book your "));
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(123_456), "123,456");
        assert_eq!(thousands(u32::MAX), "4,294,967,295");
    }
}
