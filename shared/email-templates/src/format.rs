//! Dates and times as people read them, in English and Dutch.
//!
//! These helpers are shared by the email templates and by the WhatsApp reminder templates
//! (whose variables are plain text), so they live here as public functions rather than as
//! template filters.
//!
//! Day and month names are written out by hand: chrono's `unstable-locales` feature would pull
//! in every locale's tables for the two this product speaks.
//!
//! Conventions, the same in both languages so that one reminder reads the same in either:
//! - The time is on a 24-hour clock (`14:30`, `09:05`). Switchboard is EU-first, where a
//!   24-hour clock is what people expect, and it cannot be misread as AM/PM.
//! - The date is day, month, year, with the weekday in front (`Tuesday 8 December 2026`):
//!   a reminder's reader checks "which day of the week" first.
//! - The result is the wall-clock time of the zone the [`DateTime`] carries (callers convert to
//!   the contact's or organisation's zone first) and names no zone: in a reminder the zone is
//!   the reader's own, and a `CET`/`CEST` suffix would be noise in a WhatsApp message. The
//!   emails that need it print the zone's name next to it (see the templates).

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;

use crate::Locale;

/// English weekday names, Monday first (the order of [`Weekday::num_days_from_monday`]).
const EN_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Dutch weekday names, Monday first. Dutch writes them in lower case.
const NL_WEEKDAYS: [&str; 7] = [
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
];

/// English month names, January first.
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Dutch month names, January first. Dutch writes them in lower case.
const NL_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

fn weekday_name(weekday: Weekday, locale: Locale) -> &'static str {
    let index = weekday.num_days_from_monday() as usize;
    match locale {
        Locale::En => EN_WEEKDAYS[index],
        Locale::Nl => NL_WEEKDAYS[index],
    }
}

fn month_name(month0: u32, locale: Locale) -> &'static str {
    // `month0` comes from chrono and is always 0..=11.
    let index = month0 as usize;
    match locale {
        Locale::En => EN_MONTHS[index],
        Locale::Nl => NL_MONTHS[index],
    }
}

/// The date of `dt` in its own time zone, with the weekday: `Tuesday 8 December 2026` in
/// English, `dinsdag 8 december 2026` in Dutch.
pub fn format_date(dt: &DateTime<Tz>, locale: Locale) -> String {
    format!(
        "{} {} {} {}",
        weekday_name(dt.weekday(), locale),
        dt.day(),
        month_name(dt.month0(), locale),
        dt.year()
    )
}

/// The wall-clock time of `dt` in its own time zone, on a 24-hour clock, without the zone:
/// `14:30` (the same in English and Dutch; `locale` is taken so that callers need not know
/// that, and so that a future locale may differ).
pub fn format_time(dt: &DateTime<Tz>, locale: Locale) -> String {
    match locale {
        Locale::En | Locale::Nl => format!("{:02}:{:02}", dt.hour(), dt.minute()),
    }
}

/// [`format_date`] and [`format_time`] joined the way each language says it:
/// `Tuesday 8 December 2026 at 14:30`, `dinsdag 8 december 2026 om 14:30`.
pub fn format_date_time(dt: &DateTime<Tz>, locale: Locale) -> String {
    let joiner = match locale {
        Locale::En => "at",
        Locale::Nl => "om",
    };
    format!(
        "{} {joiner} {}",
        format_date(dt, locale),
        format_time(dt, locale)
    )
}
