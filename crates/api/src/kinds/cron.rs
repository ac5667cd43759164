//! Cron schedules as CronJobs accept them: upstream parses with `robfig/cron`'s standard parser
//! (five fields, or `@hourly`-style descriptors and `@every <duration>`), and its error texts are
//! what users see in `spec.schedule` errors, so they are reproduced here.
//!
//! [`Schedule`] is the parsed form, with the sets of matching minutes, hours, days, months and
//! weekdays; a CronJob controller can use [`Schedule::matches`] to find run times.

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Fields(Fields),
    /// `@every 1h30m`: a fixed interval in seconds.
    Every(u64),
}

/// Bit sets of the allowed values of each field; `dom_star`/`dow_star` record a `*`, which
/// changes how day-of-month and day-of-week combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    pub days_of_week: u64,
    pub dom_star: bool,
    pub dow_star: bool,
}

impl Fields {
    /// Whether a time (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6 with Sunday 0)
    /// is in the schedule. As in cron, when both day fields are restricted either may match.
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        let has = |bits: u64, v: u32| bits & (1 << v) != 0;
        let dom = has(self.days_of_month, day);
        let dow = has(self.days_of_week, weekday);
        let day_ok = if self.dom_star || self.dow_star { dom && dow } else { dom || dow };
        has(self.minutes, minute) && has(self.hours, hour) && has(self.months, month) && day_ok
    }
}

impl Schedule {
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        match self {
            Schedule::Fields(f) => f.matches(minute, hour, day, month, weekday),
            Schedule::Every(_) => true,
        }
    }
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DOM: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
};

/// Parse a schedule; the error is upstream's message.
pub fn parse(spec: &str) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        // Time zones are validated separately (and rejected in new schedules).
        let Some(i) = spec.find(' ') else {
            return Err(format!(
                "provided bad location {}: unknown time zone",
                &spec[spec.find('=').unwrap_or(0) + 1..]
            ));
        };
        spec = spec[i..].trim();
    }
    if spec.starts_with('@') {
        return descriptor(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    let minutes = field(fields[0], &MINUTES)?;
    let hours = field(fields[1], &HOURS)?;
    let (days_of_month, dom_star) = field_star(fields[2], &DOM)?;
    let months = field(fields[3], &MONTHS)?;
    let (days_of_week, dow_star) = field_star(fields[4], &DOW)?;
    Ok(Schedule::Fields(Fields { minutes, hours, days_of_month, months, days_of_week, dom_star, dow_star }))
}

fn descriptor(d: &str) -> Result<Schedule, String> {
    let every = |m: &str, h: &str, dom: &str, mon: &str, dow: &str| parse(&format!("{m} {h} {dom} {mon} {dow}"));
    match d {
        "@yearly" | "@annually" => every("0", "0", "1", "1", "*"),
        "@monthly" => every("0", "0", "1", "*", "*"),
        "@weekly" => every("0", "0", "*", "*", "0"),
        "@daily" | "@midnight" => every("0", "0", "*", "*", "*"),
        "@hourly" => every("0", "*", "*", "*", "*"),
        _ => match d.strip_prefix("@every ") {
            Some(dur) => {
                parse_duration(dur).map(Schedule::Every).map_err(|e| format!("failed to parse duration {d}: {e}"))
            }
            None => Err(format!("unrecognized descriptor: {d}")),
        },
    }
}

fn field(f: &str, b: &Bounds) -> Result<u64, String> {
    field_star(f, b).map(|(bits, _)| bits)
}

/// The bits of a comma-separated field, and whether it was a plain `*`/`?`.
fn field_star(f: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0;
    let mut star = false;
    for expr in f.split(',').filter(|e| !e.is_empty()) {
        let (v, s) = range(expr, b)?;
        bits |= v;
        star |= s;
    }
    Ok((bits, star))
}

fn range(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut star);
    if low_high[0] == "*" || low_high[0] == "?" {
        (start, end, star) = (b.min, b.max, true);
    } else {
        start = int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        star = false;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_uint(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", b.min));
    }
    if end > b.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", b.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok((bits, star))
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_uint(s)
}

/// Go's `strconv.Atoi` then a sign check, with their messages.
fn parse_uint(s: &str) -> Result<u32, String> {
    let n: i64 =
        s.parse().map_err(|_| format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A Go duration (`1h30m`, `90s`, `1.5h`) in whole seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    if s.is_empty() {
        return Err(invalid());
    }
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(invalid());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standard_schedules() {
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("0 0 * * mon-fri").is_ok());
        assert!(parse("15 2 1,15 JAN,jul ?").is_ok());
        assert!(parse("@daily").is_ok());
        assert_eq!(parse("@every 1h30m").unwrap(), Schedule::Every(5400));
        let s = parse("30 9 * * 1").unwrap();
        assert!(s.matches(30, 9, 3, 6, 1));
        assert!(!s.matches(30, 9, 3, 6, 2));
    }

    #[test]
    fn errors_match_upstream() {
        assert_eq!(parse("* * * *").unwrap_err(), "expected exactly 5 fields, found 4: [* * * *]");
        assert_eq!(parse("61 * * * *").unwrap_err(), "end of range (61) above maximum (59): 61");
        assert_eq!(parse("* * 0 * *").unwrap_err(), "beginning of range (0) below minimum (1): 0");
        assert_eq!(
            parse("x * * * *").unwrap_err(),
            r#"failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(parse("5-1 * * * *").unwrap_err(), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(parse("*/0 * * * *").unwrap_err(), "step of range should be a positive number: */0");
        assert_eq!(parse("@sometimes").unwrap_err(), "unrecognized descriptor: @sometimes");
        assert_eq!(parse("").unwrap_err(), "empty spec string");
    }
}
