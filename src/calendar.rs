//! The calendar rules every domain shares: the service's default timezone, a resident's local day,
//! ages, weeks. Any domain may use this module; it uses none.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// The timezone a resident's day is in when their account names none (or names one that no
/// longer parses): the service is Osaka's.
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Asia::Tokyo;

/// [`DEFAULT_TIMEZONE`] by its IANA name, as accounts store it.
pub const DEFAULT_TIMEZONE_NAME: &str = "Asia/Tokyo";

/// The timezone an account's IANA name stands for; [`DEFAULT_TIMEZONE`] if it does not parse
/// (names are checked when they are written, so this is only a guard).
pub fn timezone(name: &str) -> Tz {
    name.parse().unwrap_or(DEFAULT_TIMEZONE)
}

/// The local day of `instant` in `tz`.
pub fn day_in(instant: DateTime<Utc>, tz: Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// Today in the timezone an account's IANA name stands for.
pub fn today_in(name: &str) -> NaiveDate {
    day_in(Utc::now(), timezone(name))
}

/// Whole years from `birth` to `on` (`None` if `on` is before `birth`).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// The Monday of the week `day` is in.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The calendar year of `instant` in [`DEFAULT_TIMEZONE`] (the year Japanese budgets and fiscal
/// rules count in).
pub fn year_in_japan(instant: DateTime<Utc>) -> i32 {
    day_in(instant, DEFAULT_TIMEZONE).year()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ages_count_whole_years_from_the_birthday() {
        let b = d("1980-06-15");
        assert_eq!(age_on(b, d("2026-06-14")), Some(45));
        assert_eq!(age_on(b, d("2026-06-15")), Some(46));
        assert_eq!(age_on(b, d("1979-01-01")), None);
        // A 29 February birthday comes on 1 March in other years.
        assert_eq!(age_on(d("2000-02-29"), d("2026-02-28")), Some(25));
        assert_eq!(age_on(d("2000-02-29"), d("2026-03-01")), Some(26));
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_start(d("2026-12-01")), d("2026-11-30"));
        assert_eq!(week_start(d("2026-11-30")), d("2026-11-30"));
        assert_eq!(week_start(d("2026-12-06")), d("2026-11-30"));
    }

    #[test]
    fn a_day_is_the_residents_local_day_and_an_unknown_zone_is_tokyo() {
        let late = DateTime::parse_from_rfc3339("2026-12-01T23:30:00Z").unwrap().to_utc();
        assert_eq!(day_in(late, timezone("Europe/London")), d("2026-12-01"));
        assert_eq!(day_in(late, timezone("Asia/Tokyo")), d("2026-12-02"));
        assert_eq!(day_in(late, timezone("Mars/Olympus")), d("2026-12-02"));
        assert_eq!(
            year_in_japan(DateTime::parse_from_rfc3339("2026-12-31T15:00:00Z").unwrap().to_utc()),
            2027
        );
    }
}
