//! Shop time: the shop's UTC offset, and Unix-millisecond instants as shop-local dates and texts.
//!
//! The calendar work is the `time` crate's. The module API keeps its own dependency-free
//! [`LocalDate`], so dates cross into and out of `time` here, in [`to_module_date`] and
//! [`from_module_date`], and nowhere else in the host.

use ::time::macros::{format_description, offset};
use ::time::{Date, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset};
use shophost_module_api::LocalDate;

/// Japan Standard Time, the shop's offset from UTC. Japan has had no daylight saving since 1951.
pub const SHOP_UTC_OFFSET: UtcOffset = offset!(+9);

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The shop-local date and time (whole seconds) of a Unix-millisecond instant. Instants beyond the
/// years 1–9999 show as the first or last instant of that range.
fn shop_datetime(millis: i64) -> PrimitiveDateTime {
    OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|utc| utc.checked_to_offset(SHOP_UTC_OFFSET))
        .map_or(
            if millis < 0 {
                PrimitiveDateTime::MIN
            } else {
                PrimitiveDateTime::MAX
            },
            |local| PrimitiveDateTime::new(local.date(), local.time()),
        )
}

/// The shop-local calendar date of a Unix-millisecond instant.
pub fn local_date(millis: i64) -> LocalDate {
    to_module_date(shop_datetime(millis).date())
}

/// `YYYY-MM-DD HH:MM:SS` in shop-local time.
pub fn local_datetime(millis: i64) -> String {
    shop_datetime(millis)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// ISO 8601 with the shop's offset, whole seconds: `2026-11-30T16:00:00+09:00`. The one form in which
/// the JSON APIs give an instant (see [`iso`]).
pub fn iso_datetime(millis: i64) -> String {
    shop_datetime(millis)
        .assume_offset(SHOP_UTC_OFFSET)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
        ))
        .unwrap_or_default()
}

/// Serde for instants held as Unix milliseconds, written as [`iso_datetime`]:
/// `#[serde(serialize_with = "crate::domain::time::iso::serialize")]`, or `iso::option::serialize` for an
/// `Option<i64>` (`null` when none). Every response type of the admin and checkout APIs uses it, so no
/// handler writes epoch milliseconds.
pub mod iso {
    use serde::Serializer;

    /// Writes the instant as ISO 8601 with the shop's offset.
    pub fn serialize<S: Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::iso_datetime(*millis))
    }

    /// The same for an optional instant.
    pub mod option {
        use serde::Serializer;

        /// Writes the instant as ISO 8601 with the shop's offset, or `null`.
        pub fn serialize<S: Serializer>(
            millis: &Option<i64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match millis {
                Some(millis) => super::serialize(millis, serializer),
                None => serializer.serialize_none(),
            }
        }
    }
}

/// `YYYY年MM月DD日`.
pub fn japanese_date(date: LocalDate) -> String {
    format!("{:04}年{:02}月{:02}日", date.year, date.month, date.day)
}

/// A `time` date as the module API's date.
pub fn to_module_date(date: Date) -> LocalDate {
    LocalDate {
        year: date.year(),
        month: u8::from(date.month()),
        day: date.day(),
    }
}

/// The module API's date as a `time` date; `None` when no such day exists.
pub fn from_module_date(date: LocalDate) -> Option<Date> {
    Date::from_calendar_date(date.year, Month::try_from(date.month).ok()?, date.day).ok()
}

/// The instant (Unix milliseconds) the shop-local day `date` begins; `None` when no such day exists.
pub fn local_day_start(date: LocalDate) -> Option<i64> {
    let start = from_module_date(date)?
        .midnight()
        .assume_offset(SHOP_UTC_OFFSET);
    Some(start.unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_dates_are_tokyo_dates() {
        // 2026-11-27 15:30 UTC is 2026-11-28 00:30 in Tokyo.
        let millis = 1_795_793_400_000;
        assert_eq!(local_datetime(millis), "2026-11-28 00:30:00");
        assert_eq!(local_date(millis).yyyymmdd(), "20261128");
        assert_eq!(japanese_date(local_date(millis)), "2026年11月28日");
        // Before the epoch the second still rounds down.
        assert_eq!(local_datetime(-1), "1970-01-01 08:59:59");
    }

    #[test]
    fn api_instants_are_iso_8601_with_the_shops_offset() {
        // 2026-11-30 07:00 UTC.
        assert_eq!(iso_datetime(1_796_022_000_000), "2026-11-30T16:00:00+09:00");
        #[derive(serde::Serialize)]
        struct At {
            #[serde(serialize_with = "iso::serialize")]
            at: i64,
            #[serde(serialize_with = "iso::option::serialize")]
            maybe: Option<i64>,
        }
        let json = serde_json::to_value(At {
            at: 1_796_022_000_999,
            maybe: None,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at": "2026-11-30T16:00:00+09:00", "maybe": null})
        );
    }

    #[test]
    fn shop_dates_agree_with_the_module_apis_day_numbers() {
        // Every 7th day from 1900 to 2200: midnight in Tokyo is that day, a millisecond earlier the one before.
        for day in (-25_567..84_000).step_by(7) {
            let midnight = (day * 86_400 - 9 * 3600) * 1000;
            assert_eq!(local_date(midnight), LocalDate::from_day_number(day));
            assert_eq!(
                local_date(midnight - 1),
                LocalDate::from_day_number(day - 1)
            );
        }
    }

    #[test]
    fn module_dates_cross_both_ways() {
        let leap_day = LocalDate::parse_yyyymmdd("20280229").expect("a date");
        let date = from_module_date(leap_day).expect("exists");
        assert_eq!(to_module_date(date), leap_day);
        let no_such_day = LocalDate {
            year: 2026,
            month: 2,
            day: 29,
        };
        assert_eq!(from_module_date(no_such_day), None);
    }
}
