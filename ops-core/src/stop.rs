//! Why a run must stop early: SIGINT/SIGTERM, or a deadline (`--timeout`).

use crate::{Category, OpsError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Cheap to clone and to poll; every supervised child and loop of a run shares one.
#[derive(Debug, Clone)]
pub struct StopSignal {
    interrupted: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl StopSignal {
    /// Catches SIGINT and SIGTERM from now on (they no longer end the process: the run
    /// notices, kills its children and cleans up) and sets the deadline.
    pub fn install(deadline: Option<Instant>) -> Result<StopSignal, OpsError> {
        let interrupted = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, interrupted.clone())
                .map_err(|e| OpsError::new("internal", Category::Internal, e.to_string()))?;
        }
        Ok(StopSignal {
            interrupted,
            deadline,
        })
    }

    /// True for the errors [`reason`](Self::reason) returns.
    pub fn caused(error: &OpsError) -> bool {
        matches!(error.code, "interrupted" | "timeout")
    }

    /// `Some` once the run must stop: `interrupted` or `timeout`.
    pub fn reason(&self) -> Option<OpsError> {
        if self.interrupted.load(Ordering::SeqCst) {
            return Some(OpsError::new(
                "interrupted",
                Category::Timeout,
                "stopped by SIGINT or SIGTERM",
            ));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(OpsError::new(
                "timeout",
                Category::Timeout,
                "--timeout reached",
            ));
        }
        None
    }
}
