//! The language of insight messages, negotiated from `Accept-Language` (RFC 9110 §12.5.4).

use serde::Serialize;

/// A language messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Japanese.
    Ja,
    /// English.
    En,
}

impl Lang {
    /// Its language tag, for `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// Languages in the order that breaks a tie the header leaves (the default first).
const SUPPORTED: [Lang; 2] = [Lang::Ja, Lang::En];

/// One well-formed element of the header.
struct Range {
    /// Lower-cased primary subtag, or `*`.
    primary: String,
    /// Weight in thousandths (0–1000).
    q: u16,
}

/// A `qvalue`: `0[.ddd]` or `1[.000]`, in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A language range (`*`, or `1*8ALPHA *("-" 1*8alphanum)`) and its weight; `None` if malformed.
fn range(element: &str) -> Option<Range> {
    let mut parts = element.split(';');
    let tag = parts.next()?.trim();
    let q = match (parts.next(), parts.next()) {
        (None, _) => 1000,
        (Some(param), None) => {
            let (name, value) = param.trim().split_once('=')?;
            if !name.eq_ignore_ascii_case("q") {
                return None;
            }
            qvalue(value)?
        }
        (Some(_), Some(_)) => return None,
    };
    if tag == "*" {
        return Some(Range { primary: "*".into(), q });
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next()?;
    let sized = |s: &str| (1..=8).contains(&s.len());
    if !sized(primary) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if !subtags.all(|s| sized(s) && s.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return None;
    }
    Some(Range {
        primary: primary.to_ascii_lowercase(),
        q,
    })
}

/// The language to answer in, from an `Accept-Language` header.
///
/// A language's weight is the highest `q` of the ranges naming it by their primary subtag
/// (`ja-JP` names `ja`); `*` gives its weight to a language no range names; `q=0` makes a language
/// not acceptable; malformed elements are ignored. The acceptable language of the highest weight
/// wins, a tie going to the one named first in the header. With no header, or one that makes
/// neither language acceptable, the answer is Japanese — the service is Osaka's — unless the header
/// excludes Japanese and not English.
pub fn negotiate(accept_language: Option<&str>) -> Lang {
    let ranges: Vec<Range> = accept_language
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(range)
        .collect();
    // (weight, position in the header) of each supported language, if any range applies.
    let weight = |lang: Lang| {
        let named = ranges.iter().enumerate().filter(|(_, r)| r.primary == lang.tag()).fold(
            None,
            |best: Option<(u16, usize)>, (i, r)| match best {
                Some((q, _)) if q >= r.q => best,
                _ => Some((r.q, i)),
            },
        );
        named.or_else(|| {
            ranges
                .iter()
                .enumerate()
                .find(|(_, r)| r.primary == "*")
                .map(|(i, r)| (r.q, i))
        })
    };
    let weights = SUPPORTED.map(|l| (l, weight(l)));
    let best = weights
        .iter()
        .filter_map(|&(l, w)| w.filter(|(q, _)| *q > 0).map(|(q, i)| (l, q, i)))
        .fold(None, |best: Option<(Lang, u16, usize)>, c| match best {
            Some(b) if b.1 > c.1 || (b.1 == c.1 && b.2 <= c.2) => Some(b),
            _ => Some(c),
        });
    match best {
        Some((lang, _, _)) => lang,
        None => {
            let excluded = |lang: Lang| weights.iter().any(|(l, w)| *l == lang && w.is_some());
            if excluded(Lang::Ja) && !excluded(Lang::En) {
                Lang::En
            } else {
                Lang::Ja
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(h: &str) -> Lang {
        negotiate(Some(h))
    }

    #[test]
    fn missing_empty_or_naming_neither_is_japanese() {
        assert_eq!(negotiate(None), Lang::Ja);
        assert_eq!(n(""), Lang::Ja);
        assert_eq!(n("fr, de;q=0.5"), Lang::Ja);
    }

    #[test]
    fn a_single_language() {
        assert_eq!(n("en"), Lang::En);
        assert_eq!(n("ja"), Lang::Ja);
        assert_eq!(n("fr, en;q=0.5"), Lang::En);
    }

    #[test]
    fn subtags_match_their_primary_language_case_insensitively() {
        assert_eq!(n("ja-JP"), Lang::Ja);
        assert_eq!(n("EN-gb"), Lang::En);
        assert_eq!(n("en-US,en;q=0.9,ja;q=0.8"), Lang::En);
        assert_eq!(n("zh-Hant-TW, ja-Jpan-JP;q=0.4, en;q=0.3"), Lang::Ja);
    }

    #[test]
    fn q_values_rank_languages() {
        assert_eq!(n("ja;q=0.5, en;q=0.8"), Lang::En);
        assert_eq!(n("en;q=0.5, ja"), Lang::Ja);
        assert_eq!(n("en;q=0.001, ja;q=0"), Lang::En);
        assert_eq!(n("ja ; Q=0.9 , en;q=1.000"), Lang::En);
        // The highest weight among a language's ranges counts.
        assert_eq!(n("ja-JP;q=0.9, en;q=0.8, ja;q=0.1"), Lang::Ja);
    }

    #[test]
    fn star_covers_languages_not_named() {
        assert_eq!(n("*"), Lang::Ja);
        assert_eq!(n("en;q=0.5, *;q=0.9"), Lang::Ja);
        assert_eq!(n("ja;q=0.5, *"), Lang::En);
        assert_eq!(n("fr, *;q=0.1"), Lang::Ja);
    }

    #[test]
    fn q_zero_excludes() {
        assert_eq!(n("ja;q=0, *"), Lang::En);
        assert_eq!(n("ja;q=0"), Lang::En);
        assert_eq!(n("en;q=0"), Lang::Ja);
        assert_eq!(n("ja;q=0.0, en;q=0.000"), Lang::Ja);
        assert_eq!(n("*;q=0, en"), Lang::En);
        assert_eq!(n("*;q=0"), Lang::Ja);
    }

    #[test]
    fn ties_go_to_the_language_named_first() {
        assert_eq!(n("en, ja"), Lang::En);
        assert_eq!(n("ja, en"), Lang::Ja);
        assert_eq!(n("en;q=0.8, ja;q=0.8"), Lang::En);
        assert_eq!(n("fr, en-GB;q=0.7, ja-JP;q=0.7"), Lang::En);
    }

    #[test]
    fn malformed_elements_are_ignored() {
        assert_eq!(n("en;q=abc, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("en;q=1.5, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("en;q=0.1234, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("en;q=, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("en;level=1, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("en;q=0.5;q=0.6, ja;q=0.1"), Lang::Ja);
        assert_eq!(n("e n, 123, toolongtag, en-, ;q=1, ja;q=0.1"), Lang::Ja);
        assert_eq!(n(",,, en ,"), Lang::En);
        assert_eq!(n("en;q=1.0, ja;q=1.001"), Lang::En);
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1."), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("1.1"), None);
        assert_eq!(qvalue("-0.5"), None);
        assert_eq!(qvalue(".5"), None);
        assert_eq!(qvalue("0.+5"), None);
        assert_eq!(qvalue(""), None);
    }

    #[test]
    fn tags() {
        assert_eq!(Lang::Ja.tag(), "ja");
        assert_eq!(Lang::En.tag(), "en");
    }
}
