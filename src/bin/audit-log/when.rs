//! Times and points in a trail as an operator types them.
//!
//! - a time: RFC 3339 (`2026-03-02T09:40:00Z`, `2026-03-02T10:40:00+01:00`), a date
//!   (`2026-03-02`: its midnight in `--tz`), a date and time without an offset
//!   (`2026-03-02T09:40`, `2026-03-02 09:40:00`: in `--tz`), an age (`15m`, `36h`, `7d`, `2w`,
//!   `90s`: that long before now), or `now`;
//! - a point (for `--at`, `--from`, `--to`): any of those, a seq (`57` or `#57`), or `head`.

use audit_log::history::Point;
use audit_log::Zone;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::fail::Fail;

/// The forms a time may take, for error messages.
const FORMS: &str = "RFC 3339 (2026-03-02T09:40:00Z), a date (2026-03-02), a date and time \
                     in --tz (2026-03-02T09:40), an age (15m, 36h, 7d, 2w) or now";

/// Reads a time.
pub fn parse_time(s: &str, zone: &Zone, now: DateTime<Utc>) -> Result<DateTime<Utc>, Fail> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(zone.instant_of(d.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(zone.instant_of(t));
        }
    }
    if let Some(age) = parse_age(s) {
        return now
            .checked_sub_signed(age)
            .ok_or_else(|| Fail::Usage(format!("{s:?} is too long ago")));
    }
    Err(Fail::Usage(format!("{s:?} is not a time: use {FORMS}")))
}

/// `15m`, `36h`, `7d`, `2w`, `90s`.
fn parse_age(s: &str) -> Option<Duration> {
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    if n < 0 {
        return None;
    }
    match unit {
        's' => Duration::try_seconds(n),
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        'w' => Duration::try_weeks(n),
        _ => None,
    }
}

/// Reads a point in the trail: a seq (`57`, `#57`), `head`, or a time.
pub fn parse_point(s: &str, zone: &Zone, now: DateTime<Utc>) -> Result<Point, Fail> {
    let t = s.trim();
    if t == "head" {
        return Ok(Point::Head);
    }
    if let Ok(seq) = t.strip_prefix('#').unwrap_or(t).parse::<u64>() {
        return Ok(Point::Seq(seq));
    }
    parse_time(t, zone, now).map(Point::Time).map_err(|_| {
        Fail::Usage(format!(
            "{s:?} is not a point: use a seq (57), head, or {FORMS}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
    }

    #[test]
    fn every_form_reads() {
        let utc = Zone::Utc;
        let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        assert_eq!(
            parse_time("2026-03-02T09:40:00Z", &utc, now()).unwrap(),
            at(2026, 3, 2, 9, 40)
        );
        assert_eq!(
            parse_time("2026-03-02T10:40:00+01:00", &utc, now()).unwrap(),
            at(2026, 3, 2, 9, 40)
        );
        assert_eq!(
            parse_time("2026-03-02", &utc, now()).unwrap(),
            at(2026, 3, 2, 0, 0)
        );
        let plus1 = Zone::parse("+01:00").unwrap();
        assert_eq!(
            parse_time("2026-03-02", &plus1, now()).unwrap(),
            at(2026, 3, 1, 23, 0)
        );
        assert_eq!(
            parse_time("2026-03-02 09:40", &plus1, now()).unwrap(),
            at(2026, 3, 2, 8, 40)
        );
        assert_eq!(
            parse_time("7d", &utc, now()).unwrap(),
            at(2026, 3, 3, 12, 0)
        );
        assert_eq!(
            parse_time("36h", &utc, now()).unwrap(),
            at(2026, 3, 9, 0, 0)
        );
        assert_eq!(
            parse_time("15m", &utc, now()).unwrap(),
            at(2026, 3, 10, 11, 45)
        );
        assert_eq!(parse_time("now", &utc, now()).unwrap(), now());
        for bad in ["yesterday", "7y", "-3d", "2026-13-01", "", "d"] {
            assert!(parse_time(bad, &utc, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn points_read_as_seqs_head_or_times() {
        let utc = Zone::Utc;
        assert_eq!(parse_point("57", &utc, now()).unwrap(), Point::Seq(57));
        assert_eq!(parse_point("#57", &utc, now()).unwrap(), Point::Seq(57));
        assert_eq!(parse_point("head", &utc, now()).unwrap(), Point::Head);
        assert_eq!(
            parse_point("1d", &utc, now()).unwrap(),
            Point::Time(Utc.with_ymd_and_hms(2026, 3, 9, 12, 0, 0).unwrap())
        );
        assert!(parse_point("soon", &utc, now()).is_err());
    }
}
