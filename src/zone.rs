//! [`Zone`]: the time zone a person reads times in.
//!
//! The trail keeps every time in UTC. Where times are shown to a person (the CSV download,
//! the command line, statistics by day) they can be shown in UTC, at a fixed offset, or, with
//! the `tz` feature, in a named IANA zone with its daylight-saving rules (`Europe/Berlin`), the
//! way a person there reads a clock.
//!
//! ```
//! use audit_log::Zone;
//! use chrono::{TimeZone, Utc};
//!
//! let t = Utc.with_ymd_and_hms(2026, 3, 2, 8, 55, 0).unwrap();
//! assert_eq!(Zone::Utc.to_rfc3339(t), "2026-03-02T08:55:00.000000Z");
//! let plus2: Zone = "+02:00".parse()?;
//! assert_eq!(plus2.to_rfc3339(t), "2026-03-02T10:55:00.000000+02:00");
//! assert_eq!(plus2.to_string(), "+02:00");
//! # Ok::<(), audit_log::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, SecondsFormat, Utc,
};

use crate::error::{Error, Result};

/// Where times are shown: UTC, a fixed offset from it, or (feature `tz`) a named zone.
///
/// Its text form ([`Display`](fmt::Display), [`Zone::parse`]) is `Z` for UTC, `+02:00` for an
/// offset, and the IANA name (`Europe/Berlin`) for a named zone: what a CSV export's manifest
/// records as its `time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Zone {
    /// UTC, the trail's own time (the default).
    #[default]
    Utc,
    /// A fixed offset from UTC, the same all year.
    Offset(FixedOffset),
    /// A named zone of the IANA database, with its daylight-saving rules.
    #[cfg(feature = "tz")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tz")))]
    Named(chrono_tz::Tz),
}

/// Names that mean UTC itself, kept as [`Zone::Utc`] so they print as `Z`.
const UTC_NAMES: &[&str] = &[
    "UTC",
    "utc",
    "Z",
    "z",
    "Etc/UTC",
    "Etc/Universal",
    "Etc/Zulu",
    "Universal",
    "Zulu",
    "GMT",
    "Etc/GMT",
];

impl Zone {
    /// Reads a zone: `UTC` (or `Z`), an offset (`+02:00`, `-0530`, `+01`), `local` (the
    /// system's zone, see [`Zone::local`]) or an IANA name (`Europe/Berlin`, feature `tz`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `time_zone`) for anything else, naming what was given;
    /// without the `tz` feature, for a zone name or `local`.
    pub fn parse(s: &str) -> Result<Zone> {
        let s = s.trim();
        if UTC_NAMES.contains(&s) {
            return Ok(Zone::Utc);
        }
        if s.starts_with(['+', '-']) {
            return parse_offset(s).map(Zone::Offset).ok_or_else(|| {
                Error::invalid(
                    "time_zone",
                    format!("{s:?} is not an offset (write it as +02:00 or -05:30)"),
                )
            });
        }
        if s == "local" {
            return Zone::local();
        }
        named(s)
    }

    /// The zone of this machine: the `TZ` environment variable when it names a zone (as
    /// `Europe/Berlin`, `:Europe/Berlin`, or a path into a `zoneinfo` directory), else the
    /// system's setting (`/etc/localtime` on Linux), else UTC (what the C library assumes when
    /// nothing is set).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `TZ`) when `TZ` is set to something that is not a zone
    /// name (POSIX rule strings are not read: name the zone instead); without the `tz`
    /// feature, always (a named zone needs the IANA database).
    pub fn local() -> Result<Zone> {
        #[cfg(feature = "tz")]
        {
            if let Ok(tz) = std::env::var("TZ") {
                let name = tz.strip_prefix(':').unwrap_or(&tz);
                if name.is_empty() {
                    return Ok(Zone::Utc);
                }
                let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, n)| n);
                return Zone::parse(name).map_err(|_| {
                    Error::invalid(
                        "TZ",
                        format!("{tz:?} is not a time zone name (name one, as Europe/Berlin)"),
                    )
                });
            }
            match iana_time_zone::get_timezone() {
                Ok(name) => Zone::parse(&name),
                Err(_) => Ok(Zone::Utc),
            }
        }
        #[cfg(not(feature = "tz"))]
        Err(Error::invalid(
            "time_zone",
            "the local zone needs the `tz` feature (or give an offset such as +02:00)",
        ))
    }

    /// The offset from UTC in effect at `t`.
    pub fn offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        #[cfg(not(feature = "tz"))]
        let _ = t;
        match self {
            Zone::Utc => Utc.fix(),
            Zone::Offset(o) => *o,
            #[cfg(feature = "tz")]
            Zone::Named(tz) => chrono::TimeZone::offset_from_utc_datetime(tz, &t.naive_utc()).fix(),
        }
    }

    /// `t` as RFC 3339 with microseconds, in this zone: `2026-03-02T08:55:00.000000Z` in UTC,
    /// `2026-03-02T09:55:00.000000+01:00` in `Europe/Berlin` in winter.
    pub fn to_rfc3339(&self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Utc => t.to_rfc3339_opts(SecondsFormat::Micros, true),
            _ => t
                .with_timezone(&self.offset_at(t))
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        }
    }

    /// `t` in this zone, formatted with a `chrono` format string (`%Y-%m-%d %H:%M:%S`).
    pub fn format(&self, t: DateTime<Utc>, format: &str) -> String {
        t.with_timezone(&self.offset_at(t))
            .format(format)
            .to_string()
    }

    /// The calendar date of `t` in this zone.
    pub fn date_of(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.offset_at(t)).date_naive()
    }

    /// The instant a wall-clock time in this zone stands for. A time that occurs twice (when
    /// clocks go back) is the first of the two; a time that does not occur (skipped when clocks
    /// go forward) is read with the offset in effect before the change, so 02:30 on the night
    /// clocks go from 02:00 to 03:00 is 03:30 in the new time.
    pub fn instant_of(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let with =
            |o: FixedOffset| (local - Duration::seconds(i64::from(o.local_minus_utc()))).and_utc();
        match self {
            Zone::Utc => local.and_utc(),
            Zone::Offset(o) => with(*o),
            #[cfg(feature = "tz")]
            Zone::Named(tz) => match chrono::TimeZone::from_local_datetime(tz, &local) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    t.with_timezone(&Utc)
                }
                chrono::LocalResult::None => {
                    with(self.offset_at(local.and_utc() - Duration::days(1)))
                }
            },
        }
    }
}

/// A named zone, or why not.
fn named(s: &str) -> Result<Zone> {
    #[cfg(feature = "tz")]
    {
        chrono_tz::Tz::from_str(s).map(Zone::Named).map_err(|_| {
            Error::invalid(
                "time_zone",
                format!("{s:?} is not a time zone (UTC, +02:00, local, or an IANA name such as Europe/Berlin)"),
            )
        })
    }
    #[cfg(not(feature = "tz"))]
    Err(Error::invalid(
        "time_zone",
        format!("{s:?}: named zones need the `tz` feature (or give an offset such as +02:00)"),
    ))
}

/// `+02:00`, `+0200`, `+02`, `-05:30`: at most 23:59 either way.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

impl fmt::Display for Zone {
    /// `Z`, `+02:00` or `Europe/Berlin`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("Z"),
            Zone::Offset(o) => write!(f, "{o}"),
            #[cfg(feature = "tz")]
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl FromStr for Zone {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Zone::parse(s)
    }
}

impl From<FixedOffset> for Zone {
    fn from(o: FixedOffset) -> Self {
        Zone::Offset(o)
    }
}

#[cfg(feature = "tz")]
impl From<chrono_tz::Tz> for Zone {
    fn from(tz: chrono_tz::Tz) -> Self {
        if UTC_NAMES.contains(&tz.name()) {
            Zone::Utc
        } else {
            Zone::Named(tz)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn offsets_parse_in_every_spelling_and_print_one_way() {
        for s in ["+02:00", "+0200", "+02"] {
            assert_eq!(Zone::parse(s).unwrap().to_string(), "+02:00", "{s}");
        }
        assert_eq!(Zone::parse("-05:30").unwrap().to_string(), "-05:30");
        for s in ["UTC", "Z", " utc "] {
            assert_eq!(Zone::parse(s).unwrap(), Zone::Utc);
        }
        for bad in [
            "+24:00",
            "+02:60",
            "+2",
            "+02:00:00",
            "+0a",
            "",
            "nowhere",
            "-",
        ] {
            let e = Zone::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid time_zone:"), "{bad}: {e}");
        }
    }

    #[test]
    fn utc_and_offsets_show_and_read_back() {
        let t = at(2026, 3, 2, 23, 30);
        let z = Zone::parse("+02:00").unwrap();
        assert_eq!(z.to_rfc3339(t), "2026-03-03T01:30:00.000000+02:00");
        assert_eq!(z.date_of(t), NaiveDate::from_ymd_opt(2026, 3, 3).unwrap());
        assert_eq!(z.format(t, "%H:%M"), "01:30");
        let local = NaiveDate::from_ymd_opt(2026, 3, 3)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(1, 30, 0).unwrap());
        assert_eq!(z.instant_of(local), t);
        assert_eq!(Zone::Utc.instant_of(local), at(2026, 3, 3, 1, 30));
    }

    #[cfg(feature = "tz")]
    #[test]
    fn a_named_zone_follows_daylight_saving() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(berlin.to_string(), "Europe/Berlin");
        assert_eq!(
            berlin.to_rfc3339(at(2026, 1, 15, 12, 0)),
            "2026-01-15T13:00:00.000000+01:00"
        );
        assert_eq!(
            berlin.to_rfc3339(at(2026, 7, 15, 12, 0)),
            "2026-07-15T14:00:00.000000+02:00"
        );
        // Clocks go forward on 2026-03-29 at 02:00 local: 02:30 does not exist, and reads
        // as 03:30 summer time (01:30 UTC).
        let skipped = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(berlin.instant_of(skipped), at(2026, 3, 29, 1, 30));
        // Clocks go back on 2026-10-25 at 03:00: 02:30 happens twice; the first is meant.
        let twice = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(berlin.instant_of(twice), at(2026, 10, 25, 0, 30));
        assert_eq!(Zone::parse("Etc/UTC").unwrap(), Zone::Utc);
        assert_eq!(Zone::from(chrono_tz::Tz::UTC), Zone::Utc);
    }
}
