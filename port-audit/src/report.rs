//! port-audit's events as typed structs, serialised once (the schemas in
//! `docs/schemas/events/audit.*.json` and `docs/schemas/files/audit.json` are their
//! contract).

use crate::policy::{Proto, Verdict};
use crate::scope::Scope;
use ops_core::event::{Event, Severity};
use ops_core::event_names as names;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The process that holds a socket.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub pid: u32,
    pub command: String,
    pub uid: u32,
}

/// `audit.finding`: one item of evidence (a socket, a NAT rule, a probe), judged.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `socket`, `rule` or `probe`.
    pub evidence: &'static str,
    pub proto: Proto,
    pub family: &'static str,
    /// `null`: a rule for any address.
    pub address: Option<String>,
    pub port: u16,
    pub scope: Scope,
    /// `listen`, `bound`, `forwarded`, or what a probe saw (`open`, `closed`…).
    pub state: &'static str,
    /// A probe's method (`syn`, `connect`, `udp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    pub verdict: Verdict,
    pub rule: String,
    pub reason: String,
    /// A socket's owner (`null`: it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Option<Process>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<Option<String>>,
    /// The finding in words, for people (`--human` and the journal).
    pub message: String,
}

impl Finding {
    /// A finding as a person reads it: port, address, what is known, and why.
    pub fn words(&self) -> String {
        let mut context: Vec<String> = vec![
            serde_json::to_value(self.scope)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            self.state.to_string(),
        ];
        if let Some(Some(p)) = &self.process {
            context.push(p.command.clone());
        }
        format!(
            "{}/{} on {} ({}): {}",
            self.proto,
            self.port,
            self.address.as_deref().unwrap_or("any address"),
            context.join(", "),
            self.reason
        )
    }
}

impl Event for Finding {
    fn name(&self) -> &'static str {
        names::AUDIT_FINDING
    }
    fn severity(&self) -> Severity {
        match self.verdict {
            Verdict::Ok => Severity::Info,
            Verdict::Warning | Verdict::Inconclusive => Severity::Warning,
            Verdict::Violation => Severity::Error,
        }
    }
}

/// The policy the audit judged by.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyText {
    pub allow: Vec<String>,
    pub never_public: Vec<String>,
}

/// `audit.summary`, and (with when and which run) the last audit ops-status reads.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub verdicts: BTreeMap<&'static str, usize>,
    pub violations: usize,
    pub complete: bool,
    pub incomplete: Vec<String>,
    pub sources: Vec<String>,
    pub open_ports: Vec<String>,
    pub violating_ports: BTreeSet<String>,
    pub policy: PolicyText,
}

impl Event for Summary {
    fn name(&self) -> &'static str {
        names::AUDIT_SUMMARY
    }
    fn severity(&self) -> Severity {
        if self.violations > 0 {
            Severity::Error
        } else if self.complete {
            Severity::Info
        } else {
            Severity::Warning
        }
    }
}

/// The state-directory record of the last audit.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub finished_at: String,
    pub correlation_id: &'a str,
}
