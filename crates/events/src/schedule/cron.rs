//! EventBridge's six-field cron, `cron(minutes hours day-of-month month day-of-week year)`:
//! parsing into bit sets, and the next matching local minute found field by field (years,
//! then months, days, hours, minutes), never minute by minute.

use jiff::civil::{Date, DateTime};

/// The first and last years a cron may name.
pub const FIRST_YEAR: i16 = 1970;
pub const LAST_YEAR: i16 = 2199;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A set of small numbers (0..256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bits([u64; 4]);

impl Bits {
    fn set(&mut self, i: u32) {
        if let Some(word) = self.0.get_mut((i / 64) as usize) {
            *word |= 1 << (i % 64);
        }
    }

    fn has(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The least member ≥ `from` and ≤ `to`.
    fn next(&self, from: u32, to: u32) -> Option<u32> {
        (from..=to).find(|&i| self.has(i))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Bits,
    hours: Bits,
    months: Bits,
    /// Years as offsets from [`FIRST_YEAR`].
    years: Bits,
    days: Days,
}

#[derive(Debug, Clone, PartialEq)]
enum Days {
    /// Day-of-month given, day-of-week `?`.
    OfMonth {
        days: Bits,
        last: bool,
        last_weekday: bool,
        nearest_weekday: Vec<u32>,
    },
    /// Day-of-week given (1 = Sunday), day-of-month `?`.
    OfWeek {
        days: Bits,
        /// `nL`: the last such weekday of the month.
        last: Bits,
        /// `n#k`: the k-th such weekday of the month.
        nth: Vec<(u32, u32)>,
    },
}

/// A number, or a name from `names` (whose first entry is `offset`).
fn number(text: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return u32::try_from(i).ok().map(|i| i + offset);
    }
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What a field allows: its name in messages, its range, and its names (the first naming
/// `names_offset`).
struct Spec<'a> {
    name: &'a str,
    min: u32,
    max: u32,
    names: &'a [&'a str],
    names_offset: u32,
}

const fn spec(name: &'static str, min: u32, max: u32) -> Spec<'static> {
    Spec {
        name,
        min,
        max,
        names: &[],
        names_offset: 0,
    }
}

/// Parses a list of `*`, `n`, `a-b`, with optional `/step`, into `bits` (value v sets bit
/// v - `index_offset`).
fn field(text: &str, spec: &Spec<'_>, bits: &mut Bits, index_offset: u32) -> Result<(), String> {
    let Spec {
        name,
        min,
        max,
        names,
        names_offset,
    } = *spec;
    for item in text.split(',') {
        let bad = || {
            format!("{name}: '{item}' is not valid (allowed: {min}-{max}, lists, ranges, '*', '/')")
        };
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step = number(s, &[], 0).filter(|&s| s >= 1).ok_or_else(bad)?;
                (r, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = number(a, names, names_offset).ok_or_else(bad)?;
            let b = number(b, names, names_offset).ok_or_else(bad)?;
            if a > b {
                return Err(format!("{name}: the range '{range}' runs backwards"));
            }
            (a, b)
        } else {
            let a = number(range, names, names_offset).ok_or_else(bad)?;
            // `a/step` runs from a to the end.
            (a, if item.contains('/') { max } else { a })
        };
        if from < min || to > max {
            return Err(format!("{name}: '{item}' is outside {min}-{max}"));
        }
        let mut v = from;
        while v <= to {
            bits.set(v - index_offset);
            v += step;
        }
    }
    Ok(())
}

impl Cron {
    /// Parses the inside of `cron(...)`.
    pub fn parse(body: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = body.split(' ').collect();
        let [minute, hour, dom, month, dow, year] = fields.as_slice() else {
            return Err(format!(
                "a cron needs six fields separated by single spaces (minutes hours \
                 day-of-month month day-of-week year), found {}",
                fields.len()
            ));
        };
        let mut cron = Cron {
            minutes: Bits::default(),
            hours: Bits::default(),
            months: Bits::default(),
            years: Bits::default(),
            days: Days::OfMonth {
                days: Bits::default(),
                last: false,
                last_weekday: false,
                nearest_weekday: Vec::new(),
            },
        };
        field(minute, &spec("minutes", 0, 59), &mut cron.minutes, 0)?;
        field(hour, &spec("hours", 0, 23), &mut cron.hours, 0)?;
        let months = Spec {
            names: &MONTHS,
            names_offset: 1,
            ..spec("month", 1, 12)
        };
        field(month, &months, &mut cron.months, 0)?;
        let (first, last) = (
            u32::from(FIRST_YEAR.unsigned_abs()),
            u32::from(LAST_YEAR.unsigned_abs()),
        );
        field(year, &spec("year", first, last), &mut cron.years, first)?;
        cron.days = match (*dom == "?", *dow == "?") {
            (true, true) => {
                return Err("only one of day-of-month and day-of-week may be '?'".into());
            }
            (false, false) => {
                return Err("one of day-of-month and day-of-week must be '?' \
                            (they cannot both be given)"
                    .into());
            }
            (false, true) => day_of_month(dom)?,
            (true, false) => day_of_week(dow)?,
        };
        Ok(cron)
    }

    /// The first local minute at or after `start` (seconds ignored) that the cron names.
    pub fn next_from(&self, start: DateTime) -> Option<DateTime> {
        let (sy, sm, sd, sh, smin) = (
            start.year(),
            u32::try_from(start.month()).ok()?,
            u32::try_from(start.day()).ok()?,
            u32::try_from(start.hour()).ok()?,
            u32::try_from(start.minute()).ok()?,
        );
        let first_year = sy.max(FIRST_YEAR);
        for year in first_year..=LAST_YEAR {
            if !self
                .years
                .has(u32::from((year - FIRST_YEAR).unsigned_abs()))
            {
                continue;
            }
            let same_year = year == sy;
            for month in (if same_year { sm } else { 1 })..=12 {
                if !self.months.has(month) {
                    continue;
                }
                let same_month = same_year && month == sm;
                let days = self.days_of(year, month)?;
                for day in (if same_month { sd } else { 1 })..=31 {
                    if !days.has(day) {
                        continue;
                    }
                    let same_day = same_month && day == sd;
                    let mut hour_from = if same_day { sh } else { 0 };
                    while let Some(hour) = self.hours.next(hour_from, 23) {
                        let same_hour = same_day && hour == sh;
                        let minute_from = if same_hour { smin } else { 0 };
                        if let Some(minute) = self.minutes.next(minute_from, 59) {
                            return DateTime::new(
                                year,
                                i8::try_from(month).ok()?,
                                i8::try_from(day).ok()?,
                                i8::try_from(hour).ok()?,
                                i8::try_from(minute).ok()?,
                                0,
                                0,
                            )
                            .ok();
                        }
                        hour_from = hour + 1;
                    }
                }
            }
        }
        None
    }

    /// The days (1..=31) of `month` in `year` that the day fields select.
    fn days_of(&self, year: i16, month: u32) -> Option<Bits> {
        let first = Date::new(year, i8::try_from(month).ok()?, 1).ok()?;
        let length = u32::try_from(first.days_in_month()).ok()?;
        // 1 = Sunday … 7 = Saturday.
        let first_weekday = u32::from(first.weekday().to_sunday_one_offset().unsigned_abs());
        let weekday = |day: u32| (first_weekday - 1 + day - 1) % 7 + 1;
        let mut out = Bits::default();
        match &self.days {
            Days::OfMonth {
                days,
                last,
                last_weekday,
                nearest_weekday,
            } => {
                for d in 1..=length {
                    if days.has(d) {
                        out.set(d);
                    }
                }
                if *last {
                    out.set(length);
                }
                if *last_weekday {
                    let d = match weekday(length) {
                        7 => length - 1,
                        1 => length - 2,
                        _ => length,
                    };
                    out.set(d);
                }
                for &n in nearest_weekday {
                    if n > length {
                        continue;
                    }
                    // The weekday nearest day n, without leaving the month.
                    let d = match weekday(n) {
                        7 if n == 1 => n + 2,
                        7 => n - 1,
                        1 if n == length => n - 2,
                        1 => n + 1,
                        _ => n,
                    };
                    out.set(d);
                }
            }
            Days::OfWeek { days, last, nth } => {
                for d in 1..=length {
                    let w = weekday(d);
                    if days.has(w) || (last.has(w) && d + 7 > length) {
                        out.set(d);
                    }
                }
                for &(w, k) in nth {
                    let first_such = (w + 7 - first_weekday) % 7 + 1;
                    let d = first_such + 7 * (k - 1);
                    if d <= length {
                        out.set(d);
                    }
                }
            }
        }
        Some(out)
    }
}

fn day_of_month(text: &str) -> Result<Days, String> {
    let mut days = Bits::default();
    let mut last = false;
    let mut last_weekday = false;
    let mut nearest_weekday = Vec::new();
    for item in text.split(',') {
        match item {
            "L" => last = true,
            "LW" => last_weekday = true,
            _ => {
                if let Some(n) = item.strip_suffix('W') {
                    let n = number(n, &[], 0)
                        .filter(|n| (1..=31).contains(n))
                        .ok_or_else(|| {
                            format!("day-of-month: '{item}' is not valid (nW needs a day 1-31)")
                        })?;
                    nearest_weekday.push(n);
                } else {
                    field(item, &spec("day-of-month", 1, 31), &mut days, 0)?;
                }
            }
        }
    }
    Ok(Days::OfMonth {
        days,
        last,
        last_weekday,
        nearest_weekday,
    })
}

fn day_of_week(text: &str) -> Result<Days, String> {
    let mut days = Bits::default();
    let mut last = Bits::default();
    let mut nth = Vec::new();
    let weekday = |s: &str, item: &str| {
        number(s, &DAYS, 1)
            .filter(|n| (1..=7).contains(n))
            .ok_or_else(|| format!("day-of-week: '{item}' is not valid (1-7 or SUN-SAT)"))
    };
    for item in text.split(',') {
        if item == "L" {
            // The last day of the week: Saturday.
            days.set(7);
        } else if let Some(w) = item.strip_suffix('L') {
            last.set(weekday(w, item)?);
        } else if let Some((w, k)) = item.split_once('#') {
            let w = weekday(w, item)?;
            let k = number(k, &[], 0)
                .filter(|k| (1..=5).contains(k))
                .ok_or_else(|| format!("day-of-week: '{item}': the week after '#' must be 1-5"))?;
            nth.push((w, k));
        } else {
            let spec = Spec {
                names: &DAYS,
                names_offset: 1,
                ..spec("day-of-week", 1, 7)
            };
            field(item, &spec, &mut days, 0)?;
        }
    }
    Ok(Days::OfWeek { days, last, nth })
}
