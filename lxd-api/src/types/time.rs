//! Times on the wire: Go's `time.Time` encodes as an RFC 3339 string with up to nine fraction
//! digits (trailing zeros dropped) and the zone's offset, `Z` for UTC.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Go's zero time as `encoding/json` writes it (an unset `time.Time`).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Seconds from the Unix epoch to Go's zero time, 0001-01-01T00:00:00Z.
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Formats a Unix time as Go writes a UTC `time.Time` in JSON (`time.RFC3339Nano`):
/// `2021-03-23T20:00:00.123456789Z`, fraction digits without trailing zeros, no fraction when
/// `nanos` is 0. `nanos` of a second or more carry into `secs`. Go refuses years outside
/// 0..=9999; here they are written with more digits or a sign.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let secs = secs.saturating_add(i64::from(nanos / NANOS_PER_SEC));
    let nanos = nanos % NANOS_PER_SEC;
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, min, sec) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}");
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 time (`2021-03-23T17:38:37.753398689-04:00`, `...Z`) into Unix seconds
/// and nanoseconds. Fraction digits past the ninth are dropped, as Go does.
pub fn parse_rfc3339(input: &str) -> Result<(i64, u32), TimestampError> {
    let err = |reason| TimestampError {
        input: input.to_owned(),
        reason,
    };
    let b = input.as_bytes();
    if b.len() < 20 {
        return Err(err("too short for YYYY-MM-DDTHH:MM:SSZ"));
    }
    let num = |range: std::ops::Range<usize>, what| -> Result<i64, TimestampError> {
        let digits = &b[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(err(what));
        }
        Ok(digits
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    for (pos, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        if b[pos] != sep {
            return Err(err("separators must be YYYY-MM-DDTHH:MM:SS"));
        }
    }
    let year = num(0..4, "bad year")?;
    let month = num(5..7, "bad month")?;
    let day = num(8..10, "bad day")?;
    let hour = num(11..13, "bad hour")?;
    let min = num(14..16, "bad minute")?;
    let sec = num(17..19, "bad second")?;
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err("day out of range"));
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err(err("time of day out of range"));
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err("empty fraction of second"));
        }
        for (i, d) in rest[1..=digits].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u32::from(d - b'0');
            }
        }
        for _ in digits..9 {
            nanos *= 10;
        }
        rest = &rest[1 + digits..];
    }
    let offset = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(err("bad zone offset"));
            }
            let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return Err(err("zone offset out of range"));
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return Err(err("zone must be Z or +HH:MM/-HH:MM")),
    };
    let days = days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + min * 60 + sec - offset, nanos))
}

/// A time as LXD writes it: an RFC 3339 string, kept as received so that a time LXD's clients
/// sent with a local offset goes back out unchanged. The default is Go's zero time
/// ([`ZERO_TIME`]), which is what LXD writes for an unset time; `null` decodes as that too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub fn zero() -> Self {
        Self(ZERO_TIME.to_owned())
    }

    /// The UTC time `secs`/`nanos` after the Unix epoch, formatted by [`rfc3339`].
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        Self(rfc3339(secs, nanos))
    }

    /// The current time in UTC.
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Self::from_unix(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(before) => {
                let d = before.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => Self::from_unix(secs, 0),
                    n => Self::from_unix(secs - 1, NANOS_PER_SEC - n),
                }
            }
        }
    }

    /// The string exactly as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds and nanoseconds since the Unix epoch.
    pub fn to_unix(&self) -> Result<(i64, u32), TimestampError> {
        parse_rfc3339(&self.0)
    }

    /// Whether this is Go's zero time (in any zone), i.e. the time is unset.
    pub fn is_zero(&self) -> bool {
        self.0 == ZERO_TIME || self.to_unix() == Ok((ZERO_TIME_UNIX, 0))
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Self::zero()
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?
            .map(Self)
            .unwrap_or_default())
    }
}

impl From<String> for Timestamp {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Timestamp {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl AsRef<str> for Timestamp {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError {
    /// The string that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RFC 3339 time {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for TimestampError {}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
