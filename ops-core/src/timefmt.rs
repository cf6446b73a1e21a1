//! Times as pgops writes them: RFC 3339 UTC with `Z`, and compact set ids.

use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

const RFC3339_MS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const SET_ID: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// `2026-11-24T03:00:01.234Z`
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(RFC3339_MS)
        .expect("formatting a UTC time cannot fail")
}

/// Now, as `rfc3339`.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// The id of a backup set started at `t`: `20261124T030001Z`.
pub fn set_id(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(SET_ID)
        .expect("formatting a UTC time cannot fail")
}

/// Parses a set id back into its start time; `None` for anything else.
pub fn parse_set_id(id: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(id, SET_ID)
        .ok()
        .map(|t| t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_id_round_trips() {
        let t = time::macros::datetime!(2026-11-24 03:00:01 UTC);
        assert_eq!(set_id(t), "20261124T030001Z");
        assert_eq!(parse_set_id("20261124T030001Z"), Some(t));
        assert_eq!(parse_set_id(".partial-20261124T030001Z"), None);
        assert_eq!(parse_set_id("20261124T030001"), None);
    }

    #[test]
    fn rfc3339_has_millis_and_z() {
        let t = time::macros::datetime!(2026-11-24 03:00:01.2345 UTC);
        assert_eq!(rfc3339(t), "2026-11-24T03:00:01.234Z");
    }
}
