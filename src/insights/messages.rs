//! Short plain-language messages, in Japanese and English, for each category of the reference
//! table and each trend direction, and the disclaimer every insight carries.

use super::classify::Classification;
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
    texts(metric, category).map(|(ja, en)| match lang {
        Lang::Ja => ja,
        Lang::En => en,
    })
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
}
