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
}
ops_core::event!(Failed, names::NOTIFY_FAILED, Severity::Warning);

/// `notify.held`
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub component: String,
    pub what: ChangeKind,
    pub reason: HoldReason,
    pub flips: u32,
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
