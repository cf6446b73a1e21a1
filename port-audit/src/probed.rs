//! What a probe found of one port: one vocabulary (nmap's) for the connect scan and the
//! SYN scan.

use crate::policy::Proto;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum State {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    /// No answer: a firewall dropped it, or (UDP) a service that stays silent.
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    /// TCP: no answer before the timeout.
    #[serde(rename = "filtered")]
    Filtered,
}

impl State {
    /// As `nmap` names it (the event's `state`).
    pub fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::OpenFiltered => "open|filtered",
            State::Filtered => "filtered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probed {
    pub proto: Proto,
    pub port: u16,
    pub state: State,
}
