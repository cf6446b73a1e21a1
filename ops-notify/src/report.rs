//! ops-notify's events as typed structs (the schemas in `docs/schemas/events/notify.*.json`
//! are their contract). A target is named by its line and label, never its URL.

use crate::compose::ChangeKind;
use crate::message::Kind;
use crate::target::Target;
use crate::watch::HoldReason;
use ops_core::event::Severity;
use ops_core::event_names as names;
use ops_core::OpsError;
use serde::Serialize;

/// Which target, as it may be shown.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub target: usize,
    pub label: String,
    pub sink: String,
}

impl From<&Target> for Named {
    fn from(t: &Target) -> Named {
        Named {
            target: t.line,
            label: t.label.clone(),
            sink: t.scheme().to_string(),
        }
    }
}

/// `notify.sent`
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    #[serde(flatten)]
    pub to: Named,
    pub kind: Kind,
    pub subject: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_since: Option<String>,
    pub message: String,
}
ops_core::event!(Sent, names::NOTIFY_SENT, Severity::Info);

/// `notify.failed`
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(flatten)]
    pub to: Named,
    pub kind: Kind,
    pub subject: String,
    pub attempts: u32,
    pub queued: bool,
    pub dropped: bool,
    pub error: OpsError,
    pub message: String,
}
ops_core::event!(Failed, names::NOTIFY_FAILED, Severity::Warning);

/// `notify.held`
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub component: String,
    pub what: ChangeKind,
    pub reason: HoldReason,
    pub flips: u32,
    pub message: String,
}
ops_core::event!(Held, names::NOTIFY_HELD, Severity::Info);

/// The run's tally, in `run.finished`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub targets: usize,
    pub messages_sent: u64,
    pub deliveries_failed: u64,
    pub messages_queued: u64,
    pub changes_held: u64,
    pub messages_dropped: u64,
}

impl Sent {
    pub fn new(
        to: &Target,
        kind: Kind,
        subject: &str,
        attempts: u32,
        queued_since: Option<String>,
    ) -> Sent {
        Sent {
            message: format!(
                "{} message sent to {} (line {}, {attempts} attempt(s)){}",
                kind.as_str(),
                to.label,
                to.line,
                match &queued_since {
                    Some(at) => format!(", held since {at}"),
                    None => String::new(),
                }
            ),
            to: Named::from(to),
            kind,
            subject: subject.to_string(),
            attempts,
            queued_since,
        }
    }
}

impl Failed {
    pub fn new(
        to: Named,
        kind: Kind,
        subject: &str,
        attempts: u32,
        queued: bool,
        dropped: bool,
        error: OpsError,
    ) -> Failed {
        Failed {
            message: format!(
                "{} message to {} (line {}) not delivered after {attempts} attempt(s): {}: {}; {}",
                kind.as_str(),
                to.label,
                to.target,
                error.code,
                error.message,
                if queued {
                    "held in the outbox for the next run"
                } else if dropped {
                    "given up"
                } else {
                    "not held (trying again would not help: check the target)"
                }
            ),
            to,
            kind,
            subject: subject.to_string(),
            attempts,
            queued,
            dropped,
            error,
        }
    }
}

impl Held {
    pub fn new(component: &str, what: ChangeKind, reason: HoldReason, flips: u32) -> Held {
        Held {
            message: format!(
                "{component}: not told now ({}); {flips} change(s) since last told",
                match reason {
                    HoldReason::MinInterval => "told less than --min-interval ago",
                    HoldReason::MaxPerHour => "--max-per-hour reached",
                }
            ),
            component: component.to_string(),
            what,
            reason,
            flips,
        }
    }
}
