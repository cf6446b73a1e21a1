//! Times as pgops writes them: RFC 3339 UTC with `Z`, and compact set ids. One time crate
//! across the workspace: jiff (ADR 0009).

pub use jiff::{SignedDuration, Timestamp};

const RFC3339_MS: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";
const SET_ID: &str = "%Y%m%dT%H%M%SZ";

/// `2026-11-24T03:00:01.234Z`
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime(RFC3339_MS).to_string()
}

/// Now, as `rfc3339`.
pub fn now_rfc3339() -> String {
    rfc3339(Timestamp::now())
}

/// The id of a backup set started at `t`: `20261124T030001Z`.
pub fn set_id(t: Timestamp) -> String {
    t.strftime(SET_ID).to_string()
}

/// Parses a set id back into its start time; `None` for anything else. Only the exact
/// form `set_id` writes is an id (the parser alone would take `2026112T…`).
pub fn parse_set_id(id: &str) -> Option<Timestamp> {
    let t = jiff::civil::DateTime::strptime(SET_ID, id)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    (set_id(t) == id).then_some(t)
}

/// Parses an RFC 3339 time as pgops writes it (any offset is accepted).
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Whole seconds from `earlier` to `later` (negative when `later` is earlier).
/// An age or a span for a person: `3h 12m` (to the minute; seconds under a minute).
pub fn human_age(secs: u64) -> String {
    let rounded = if secs >= 60 { secs - secs % 60 } else { secs };
    humantime::format_duration(std::time::Duration::from_secs(rounded)).to_string()
}

pub fn seconds_between(earlier: Timestamp, later: Timestamp) -> i64 {
    later.duration_since(earlier).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn set_id_round_trips() {
        let t = at("2026-11-24T03:00:01Z");
        assert_eq!(set_id(t), "20261124T030001Z");
        assert_eq!(parse_set_id("20261124T030001Z"), Some(t));
        assert_eq!(parse_set_id(".partial-20261124T030001Z"), None);
        assert_eq!(parse_set_id("20261124T030001"), None);
        assert_eq!(parse_set_id("2026112T030001Z"), None);
        assert_eq!(parse_set_id("20261124T030001Zx"), None);
        assert_eq!(parse_set_id("20261324T030001Z"), None);
    }

    #[test]
    fn rfc3339_has_millis_and_z() {
        assert_eq!(
            rfc3339(at("2026-11-24T03:00:01.2345Z")),
            "2026-11-24T03:00:01.234Z"
        );
        assert_eq!(
            rfc3339(at("2026-11-24T04:00:01+01:00")),
            "2026-11-24T03:00:01.000Z"
        );
        assert_eq!(
            seconds_between(at("2026-11-24T03:00:00Z"), at("2026-11-24T03:01:00Z")),
            60
        );
    }
}
