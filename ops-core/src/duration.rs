//! Durations on the command line: humantime's syntax (`90s`, `15m`, `2h`, `1d`, `1h30m`,
//! `2h 30m`, `500ms`), and bare seconds (`45`) as pg_dump's and systemd's habits have it.

use std::time::Duration;

/// Parses a duration: a bare number of seconds, else humantime's units.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("26h").unwrap(), Duration::from_secs(26 * 3600));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("2w").unwrap(), Duration::from_secs(14 * 86400));
        assert_eq!(parse("60min").unwrap(), Duration::from_secs(3600));
        assert!(parse("").is_err());
        assert!(parse("h").is_err());
        assert!(parse("5q").is_err());
        assert!(parse("-5s").is_err());
    }
}
