//! The 継続課金 rule: when a recurring product is first charged after its first order, and when the
//! gateway's schedule charges it next.
//!
//! Both follow WCEX DL Seller: a charge falls on a day of the month, and on the month's last day when
//! the month is shorter (a first order on 31 January, charged monthly on the order's day, is charged
//! next on 28 or 29 February).

use ::time::{Date, Month};
use serde::{Deserialize, Serialize};
use shophost_module_api::LocalDate;

use super::time::{from_module_date, to_module_date};

/// How a recurring product is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecurrence {
    /// Months between charges: 1, 6 or 12.
    pub interval_months: u32,
    /// Day of the month charges fall on: 1–28, or [`ORDER_DAY`] (the day of the first order).
    pub charging_day: u32,
}

/// [`ProductRecurrence::charging_day`] for "the day of the first order" (受注日).
pub const ORDER_DAY: u32 = 99;

impl ProductRecurrence {
    /// How often it is charged, in the shop's words: 毎月, 6か月ごと, 毎年.
    pub fn interval_label(self) -> String {
        match self.interval_months {
            1 => "毎月".to_owned(),
            12 => "毎年".to_owned(),
            months => format!("{months}か月ごと"),
        }
    }

    /// The first recurring charge after a first order on `ordered`: on the order's day `interval_months`
    /// later when charged on the order day, else the next charging day (this month if it is still ahead,
    /// next month otherwise), as WCEX DL Seller computes it.
    pub fn first_charge(self, ordered: LocalDate) -> LocalDate {
        let first = from_module_date(ordered).and_then(|date| {
            if self.charging_day == ORDER_DAY {
                months_later(date, i64::from(self.interval_months), date.day())
            } else {
                let day = u8::try_from(self.charging_day).ok()?;
                let months = if date.day() < day { 0 } else { 1 };
                months_later(date, months, day)
            }
        });
        first.map_or(ordered, to_module_date)
    }
}

/// Day `day` (1–31) of the month `months` after `date`'s month, or that month's last day when it has
/// no such day (the 29th–31st).
fn months_later(date: Date, months: i64, day: u8) -> Option<Date> {
    if !(1..=31).contains(&day) {
        return None;
    }
    let month_number = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
    let year = i32::try_from(month_number.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(month_number.rem_euclid(12) + 1).ok()?).ok()?;
    Date::from_calendar_date(year, month, day.min(month.length(year))).ok()
}

/// The date a recurring charge registered to start on `first` (`YYYYMMDD`) and repeat every
/// `interval_months` falls on next, on or after `today`: the gateway charges on that schedule by itself,
/// so the shop shows it without hearing about each charge. `None` when `first` is not a date.
pub fn scheduled_charge(first: &str, interval_months: i64, today: LocalDate) -> Option<LocalDate> {
    let first = from_module_date(LocalDate::parse_yyyymmdd(first)?)?;
    let today = from_module_date(today)?;
    let interval = interval_months.max(1);
    (0..=1200 / interval)
        .filter_map(|k| months_later(first, k * interval, first.day()))
        .find(|date| *date >= today)
        .map(to_module_date)
}

#[cfg(test)]
mod tests {
    use super::{ProductRecurrence, ORDER_DAY};
    use shophost_module_api::LocalDate;

    fn date(text: &str) -> LocalDate {
        LocalDate::parse_yyyymmdd(text).expect("a date")
    }

    #[test]
    fn the_first_recurring_charge_follows_dl_sellers_rule() {
        let on = |interval_months, charging_day, ordered: &str| {
            ProductRecurrence {
                interval_months,
                charging_day,
            }
            .first_charge(date(ordered))
            .yyyymmdd()
        };
        // A charging day still ahead this month is this month's; otherwise next month's.
        assert_eq!(on(1, 10, "20261105"), "20261110");
        assert_eq!(on(1, 10, "20261110"), "20261210");
        assert_eq!(on(1, 10, "20261227"), "20270110");
        // Charged on the order day: the same day `interval` months on, the month's last day if shorter.
        assert_eq!(on(1, ORDER_DAY, "20261127"), "20261227");
        assert_eq!(on(6, ORDER_DAY, "20261127"), "20270527");
        assert_eq!(on(12, ORDER_DAY, "20260131"), "20270131");
        assert_eq!(on(1, ORDER_DAY, "20260131"), "20260228");
        assert_eq!(on(1, ORDER_DAY, "20280131"), "20280229");
    }

    #[test]
    fn the_scheduled_charge_follows_the_registration() {
        let next = |first: &str, interval, today: &str| {
            super::scheduled_charge(first, interval, date(today)).map(LocalDate::yyyymmdd)
        };
        assert_eq!(next("20261227", 1, "20261127").as_deref(), Some("20261227"));
        assert_eq!(next("20261227", 1, "20261227").as_deref(), Some("20261227"));
        assert_eq!(next("20261227", 1, "20261228").as_deref(), Some("20270127"));
        assert_eq!(next("20261231", 1, "20270201").as_deref(), Some("20270228"));
        assert_eq!(next("20261210", 6, "20270701").as_deref(), Some("20271210"));
        assert_eq!(
            next("20261210", 12, "20300101").as_deref(),
            Some("20301210")
        );
        assert_eq!(next("not a date", 1, "20261127"), None);
    }
}
