//! UTC calendar time from Unix seconds, without a date crate: the extension and the
//! agent stamp their log lines with it and the server's dashboard prints it, and this
//! crate is the one all three share.

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl CivilTime {
    /// Howard Hinnant's civil_from_days, valid for any i64 day count in range.
    pub fn from_unix(unix_secs: i64) -> CivilTime {
        let days = unix_secs.div_euclid(86_400);
        let secs_of_day = unix_secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        CivilTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: secs_of_day / 3600,
            minute: secs_of_day / 60 % 60,
            second: secs_of_day % 60,
        }
    }

    /// `2026-11-24T12:00:00Z`
    pub fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_including_leap_days_and_before_the_epoch() {
        assert_eq!(CivilTime::from_unix(0).iso8601(), "1970-01-01T00:00:00Z");
        assert_eq!(
            CivilTime::from_unix(951_782_400).iso8601(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            CivilTime::from_unix(1_795_521_599).iso8601(),
            "2026-11-24T11:59:59Z"
        );
        assert_eq!(CivilTime::from_unix(-1).iso8601(), "1969-12-31T23:59:59Z");
    }
}
