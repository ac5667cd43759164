//! When a CronJob runs: the next time a schedule fires after a given instant (robfig/cron's
//! `Next`, which upstream uses, including its behaviour across DST changes: a time skipped
//! by spring-forward does not run that day, a repeated hour may run twice), and the most
//! recent missed run since the last one (upstream's `mostRecentScheduleTime`).

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use skiff_api::kinds::cron::{self, Fields, Schedule};

/// Runs this far after the scheduled time are re-checked (upstream's nextScheduleDelta).
const NEXT_DELTA: Duration = Duration::from_millis(100);
/// Give up looking for a matching time this many years ahead (e.g. "0 0 30 2 *").
const YEARS_AHEAD: i16 = 5;

/// A parsed schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Cron {
    schedule: Schedule,
    tz: TimeZone,
}

impl Cron {
    /// Parse `spec` (five fields or a descriptor) to run in `tz`.
    pub fn new(spec: &str, tz: TimeZone) -> Result<Cron, String> {
        Ok(Cron { schedule: cron::parse(spec)?, tz })
    }

    /// The first run strictly after `t`; none if the schedule never fires.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let whole = Timestamp::from_second(t.as_second()).ok()?;
        match &self.schedule {
            Schedule::Every(secs) => whole.checked_add(jiff::SignedDuration::from_secs((*secs).max(1) as i64)).ok(),
            Schedule::Fields(f) => next_fields(f, whole.checked_add(1.second()).ok()?.to_zoned(self.tz.clone())),
        }
    }
}

fn has(bits: u64, v: i8) -> bool {
    bits & (1 << v) != 0
}

fn day_matches(f: &Fields, t: &Zoned) -> bool {
    let dom = has(f.days_of_month, t.day());
    let dow = has(f.days_of_week, t.weekday().to_sunday_zero_offset());
    if f.dom_star || f.dow_star { dom && dow } else { dom || dow }
}

fn at(tz: &TimeZone, date: Date, hour: i8, minute: i8) -> Option<Zoned> {
    date.at(hour, minute, 0, 0).to_zoned(tz.clone()).ok()
}

/// robfig/cron's SpecSchedule.Next: advance month, day, hour, minute in turn, starting
/// over whenever a field wraps. Days move by the calendar, hours and minutes by elapsed
/// time, which is what makes DST behave as upstream.
fn next_fields(f: &Fields, mut t: Zoned) -> Option<Timestamp> {
    let tz = t.time_zone().clone();
    let limit = t.year() + YEARS_AHEAD;
    let mut added = false;
    'wrap: loop {
        if t.year() > limit {
            return None;
        }
        while !has(f.months, t.month()) {
            if !added {
                added = true;
                t = at(&tz, t.date().first_of_month(), 0, 0)?;
            }
            t = t.checked_add(1.month()).ok()?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(f, &t) {
            if !added {
                added = true;
                t = at(&tz, t.date(), 0, 0)?;
            }
            t = t.checked_add(1.day()).ok()?;
            // Back to midnight if a DST change moved the wall clock.
            let h = t.hour();
            if h != 0 {
                let fix = if h > 12 { i64::from(24 - h) } else { -i64::from(h) };
                t = t.checked_add(fix.hours()).ok()?;
            }
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(f.hours, t.hour()) {
            if !added {
                added = true;
                t = at(&tz, t.date(), t.hour(), 0)?;
            }
            t = t.checked_add(1.hour()).ok()?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(f.minutes, t.minute()) {
            if !added {
                added = true;
                t = Timestamp::from_second(t.timestamp().as_second() / 60 * 60).ok()?.to_zoned(tz.clone());
            }
            t = t.checked_add(1.minute()).ok()?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        while t.second() != 0 {
            if !added {
                added = true;
                t = Timestamp::from_second(t.timestamp().as_second()).ok()?.to_zoned(tz.clone());
            }
            t = t.checked_add(1.second()).ok()?;
            if t.second() == 0 {
                continue 'wrap;
            }
        }
        return Some(t.timestamp());
    }
}

/// Where a CronJob stands against its schedule at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Runs are looked for after this (creation, last run, or the starting deadline).
    pub earliest: Timestamp,
    /// The latest run due at or before `now` that was not started.
    pub most_recent: Option<Timestamp>,
    /// Roughly how many runs were missed.
    pub missed: i64,
}

/// Upstream's mostRecentScheduleTime. `deadline` is startingDeadlineSeconds, when it
/// should bound how far back runs are considered.
pub fn standing(
    cron: &Cron,
    created: Timestamp,
    last_schedule: Option<Timestamp>,
    deadline: Option<i64>,
    now: Timestamp,
) -> Result<Standing, String> {
    let mut earliest = last_schedule.unwrap_or(created);
    if let Some(secs) = deadline {
        let bound = now - jiff::SignedDuration::from_secs(secs);
        earliest = earliest.max(bound);
    }
    let none = |earliest| Standing { earliest, most_recent: None, missed: 0 };
    let Some(t1) = cron.next(earliest) else { return Ok(none(earliest)) };
    if now < t1 {
        return Ok(none(earliest));
    }
    let Some(t2) = cron.next(t1) else { return Ok(Standing { earliest, most_recent: Some(t1), missed: 1 }) };
    if now < t2 {
        return Ok(Standing { earliest, most_recent: Some(t1), missed: 1 });
    }
    let between = t2.duration_since(t1).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".to_string());
    }
    // Estimate how many intervals fit, jump near the end, then walk to the last one.
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    let jump = jiff::SignedDuration::from_secs((missed - 2).max(0) * between);
    let mut most_recent = t1;
    let mut t = cron.next(t1 + jump);
    while let Some(x) = t.filter(|x| *x <= now) {
        most_recent = most_recent.max(x);
        t = cron.next(x);
    }
    Ok(Standing { earliest, most_recent: Some(most_recent), missed })
}

/// How long until the sync after the next run (upstream's nextScheduleTimeDuration).
pub fn until_next(
    cron: &Cron,
    created: Timestamp,
    last_schedule: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let s = standing(cron, created, last_schedule, None, now).ok()?;
    let from = s.most_recent.unwrap_or(s.earliest);
    let next = cron.next(from)?;
    let wait = Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
    Some(wait + NEXT_DELTA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cronjob::timezone;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn utc(spec: &str) -> Cron {
        Cron::new(spec, TimeZone::UTC).unwrap()
    }

    fn runs(c: &Cron, from: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut t = ts(from);
        for _ in 0..n {
            t = c.next(t).unwrap();
            out.push(t.to_string());
        }
        out
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        assert_eq!(
            runs(&utc("*/15 * * * *"), "2026-01-01T10:07:30Z", 3),
            ["2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z", "2026-01-01T10:45:00Z"]
        );
        assert_eq!(
            runs(&utc("0 9-17/4 * * MON-fri"), "2026-01-02T14:00:00Z", 3),
            // Friday 2 Jan 2026: 17:00; then Monday 5 Jan.
            ["2026-01-02T17:00:00Z", "2026-01-05T09:00:00Z", "2026-01-05T13:00:00Z"]
        );
        assert_eq!(
            runs(&utc("5,10 0 1 jan,JUL *"), "2026-01-01T00:05:00Z", 3),
            ["2026-01-01T00:10:00Z", "2026-07-01T00:05:00Z", "2026-07-01T00:10:00Z"]
        );
        // Both day fields restricted: either matches (the 13th, or any Friday).
        assert_eq!(
            runs(&utc("0 0 13 * 5"), "2026-02-01T00:00:00Z", 3),
            ["2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"]
        );
        assert_eq!(
            runs(&utc("30 */6 * * *"), "2026-01-01T05:00:00Z", 2),
            ["2026-01-01T06:30:00Z", "2026-01-01T12:30:00Z"]
        );
        assert_eq!(utc("0 0 30 2 *").next(ts("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn descriptors() {
        let first = |spec: &str| utc(spec).next(ts("2026-05-15T10:30:00Z")).unwrap().to_string();
        assert_eq!(first("@yearly"), "2027-01-01T00:00:00Z");
        assert_eq!(first("@annually"), "2027-01-01T00:00:00Z");
        assert_eq!(first("@monthly"), "2026-06-01T00:00:00Z");
        assert_eq!(first("@weekly"), "2026-05-17T00:00:00Z");
        assert_eq!(first("@daily"), "2026-05-16T00:00:00Z");
        assert_eq!(first("@midnight"), "2026-05-16T00:00:00Z");
        assert_eq!(first("@hourly"), "2026-05-15T11:00:00Z");
        assert_eq!(first("@every 90s"), "2026-05-15T10:31:30Z");
        assert!(Cron::new("@fortnightly", TimeZone::UTC).is_err());
        assert!(Cron::new("* * * *", TimeZone::UTC).is_err());
    }

    #[test]
    fn time_zones_and_dst_follow_wall_clock_time() {
        let ny = timezone::load(Some("America/New_York")).unwrap();
        let daily = Cron::new("0 9 * * *", ny.clone()).unwrap();
        // 9:00 EST is 14:00Z; after the 8 March 2026 spring-forward 9:00 EDT is 13:00Z.
        assert_eq!(runs(&daily, "2026-03-07T00:00:00Z", 2), ["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"]);
        // 2:30 does not exist on 8 March: that day has no run.
        let skipped = Cron::new("30 2 * * *", ny.clone()).unwrap();
        assert_eq!(runs(&skipped, "2026-03-07T12:00:00Z", 2), ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]);
        // 1:30 happens twice on 1 November 2026 (EDT, then EST): robfig runs both.
        let repeated = Cron::new("30 1 * * *", ny).unwrap();
        assert_eq!(
            runs(&repeated, "2026-11-01T04:00:00Z", 3),
            ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"]
        );
        let tokyo = Cron::new("0 0 * * *", timezone::load(Some("Asia/Tokyo")).unwrap()).unwrap();
        assert_eq!(tokyo.next(ts("2026-01-01T00:00:00Z")).unwrap().to_string(), "2026-01-01T15:00:00Z");
    }

    #[test]
    fn the_most_recent_missed_run_is_found_with_a_fake_clock() {
        let c = utc("*/5 * * * *");
        let created = ts("2026-01-01T10:01:00Z");
        let before = standing(&c, created, None, None, ts("2026-01-01T10:04:59Z")).unwrap();
        assert_eq!(before.most_recent, None);
        let one = standing(&c, created, None, None, ts("2026-01-01T10:05:00Z")).unwrap();
        assert_eq!((one.most_recent, one.missed), (Some(ts("2026-01-01T10:05:00Z")), 1));
        let later = standing(&c, created, None, None, ts("2026-01-01T12:07:00Z")).unwrap();
        assert_eq!(later.most_recent, Some(ts("2026-01-01T12:05:00Z")));
        assert_eq!(later.missed, 25);
        let last = Some(ts("2026-01-01T12:00:00Z"));
        let after_last = standing(&c, created, last, None, ts("2026-01-01T12:07:00Z")).unwrap();
        assert_eq!((after_last.most_recent, after_last.missed), (Some(ts("2026-01-01T12:05:00Z")), 1));
        // A starting deadline bounds how far back runs count.
        let bounded = standing(&c, created, None, Some(60), ts("2026-01-01T12:07:00Z")).unwrap();
        assert_eq!(bounded.most_recent, None);
        let days = standing(&utc("* * * * *"), created, None, None, ts("2026-01-03T10:01:30Z")).unwrap();
        assert!(days.missed > 100);
        assert_eq!(days.most_recent, Some(ts("2026-01-03T10:01:00Z")));
        let wait = until_next(&c, created, last, ts("2026-01-01T12:07:00Z")).unwrap();
        assert_eq!(wait, Duration::from_millis(3 * 60_000 + 100));
    }
}
