//! A message is a value (ADR 0024 §6): built by pure functions from facts, rendered per
//! sink (mail: `text`; chat: `summary`; webhooks: the whole value as JSON), and held in
//! the outbox as it is.

use serde::{Deserialize, Serialize};

/// What a message is about; a target's tags choose among these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A unit failed, or a promise broke (or stays broken: a reminder).
    Failure,
    /// A broken promise is kept again.
    Recovery,
    /// A unit succeeded: what it proved.
    Proven,
    /// The daily or weekly summary.
    Digest,
    /// A dead-man switch's ping (only heartbeat targets get them).
    Heartbeat,
    /// `ops-notify test`: every target gets it.
    Test,
}

impl Kind {
    pub fn from_tag(tag: &str) -> Option<Kind> {
        Some(match tag.trim().to_ascii_lowercase().as_str() {
            "failure" => Kind::Failure,
            "recovery" => Kind::Recovery,
            "proven" | "success" => Kind::Proven,
            "digest" => Kind::Digest,
            "heartbeat" => Kind::Heartbeat,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Recovery => "recovery",
            Kind::Proven => "proven",
            Kind::Digest => "digest",
            Kind::Heartbeat => "heartbeat",
            Kind::Test => "test",
        }
    }

    /// A word a person sees first: in a chat line, a colour, a priority.
    pub fn is_bad(self) -> bool {
        self == Kind::Failure
    }
}

/// One message, whatever carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The version of this shape (the signed webhook's body).
    pub v: u32,
    pub kind: Kind,
    /// The host it is about.
    pub host: String,
    /// When it was composed (RFC 3339).
    pub at: String,
    /// What broke or what was proven: database, set, age.
    pub subject: String,
    /// The compact form for chat: a few lines.
    pub summary: String,
    /// The whole body for mail: the proof, the error code, the runbook.
    pub text: String,
    /// The stable error code of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the runbook says what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// The same facts as the JSON events.
    pub facts: serde_json::Value,
}

/// The version of [`Message`]'s shape.
pub const MESSAGE_VERSION: u32 = 1;

/// This host's name, as messages and subjects say it.
pub use ops_core::user::host_name;

/// Where the runbooks are: `PGOPS_RUNBOOK_URL` (e.g. a wiki), else the installed docs.
pub fn runbook_base() -> String {
    std::env::var("PGOPS_RUNBOOK_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "file:///usr/share/doc/pgops/runbooks/".into())
}

/// `base` + `page#section`, with exactly one `/` between.
pub fn runbook(base: &str, page: &str) -> String {
    format!("{}/{page}", base.trim_end_matches('/'))
}

/// A duration as people say it: `26 h`, `3 d 4 h`, `12 min`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(42), "42 s");
        assert_eq!(age(3 * 86_400 + 59), "3 d");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(26 * 3600), "26 h");
        assert_eq!(age(3 * 86_400 + 4 * 3600 + 5), "3 d 4 h");
        assert_eq!(
            runbook("file:///d/", "backup.md#x"),
            "file:///d/backup.md#x"
        );
        assert_eq!(Kind::from_tag("Success"), Some(Kind::Proven));
    }
}
