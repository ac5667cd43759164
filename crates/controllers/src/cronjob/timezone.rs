//! Time zones for `spec.timeZone`, read from the system's IANA database
//! (`/usr/share/zoneinfo`, or `$ZONEINFO` first, as Go's `time.LoadLocation` looks). A
//! CronJob without one runs in the controller's local zone (`/etc/localtime`, else UTC),
//! as upstream does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use jiff::tz::TimeZone;

const DIRS: &[&str] = &["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ"];

/// The zone named `name` (`None`: the local zone); the error is Go's wording.
pub fn load(name: Option<&str>) -> Result<TimeZone, String> {
    let Some(name) = name else { return Ok(local()) };
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    if name == "Local" {
        return Ok(local());
    }
    static CACHE: OnceLock<Mutex<HashMap<String, TimeZone>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(tz) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Ok(tz.clone());
    }
    let unknown = || format!("unknown time zone {name}");
    // A name is a relative path inside the database, never a way out of it.
    if name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(unknown());
    }
    let dirs = std::env::var_os("ZONEINFO").map(PathBuf::from).into_iter().chain(DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        if let Ok(data) = std::fs::read(dir.join(name))
            && let Ok(tz) = TimeZone::tzif(name, &data)
        {
            cache.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), tz.clone());
            return Ok(tz);
        }
    }
    Err(unknown())
}

fn local() -> TimeZone {
    std::fs::read("/etc/localtime").ok().and_then(|data| TimeZone::tzif("Local", &data).ok()).unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_load_from_the_system_database() {
        let ny = load(Some("America/New_York")).expect("tzdata installed");
        let t: jiff::Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(t.to_zoned(ny).offset().seconds(), -4 * 3600);
        assert_eq!(load(Some("Mars/Olympus")).unwrap_err(), "unknown time zone Mars/Olympus");
        assert!(load(Some("../etc/passwd")).is_err());
        assert_eq!(load(Some("UTC")).unwrap(), TimeZone::UTC);
    }
}
