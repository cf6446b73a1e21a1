//! Reading the facts a message is built from: the run history's lines of one unit run,
//! systemd's word on it, and the health verdict of the catalog.

use crate::cli::{UnitArgs, UnitResult};
use crate::compose::{RunLine, UnitFacts};
use ops_core::OpsError;
use ops_health::cli::{PolicyArgs, SourceArgs};
use ops_health::health::{Component, Overall};
use ops_health::model::Snapshot;
use std::io::BufRead;

/// What systemd ≥ 251 gives an `OnSuccess=`/`OnFailure=` unit about the unit it follows.
fn monitor(var: &str) -> Option<String> {
    std::env::var(format!("MONITOR_{var}"))
        .ok()
        .filter(|v| !v.is_empty())
}

/// The `run.finished` lines in `lines` of the run `id` (`None`: all of them).
pub fn runs_of<'a>(lines: impl Iterator<Item = String> + 'a, id: Option<&'a str>) -> Vec<RunLine> {
    lines
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| id.is_none_or(|id| v["correlation_id"] == id))
        .filter_map(|v| RunLine::of(&v))
        .collect()
}

fn lines_of(path: &std::path::Path) -> Result<Vec<String>, OpsError> {
    let read = |r: &mut dyn BufRead| r.lines().map_while(Result::ok).collect::<Vec<_>>();
    if path.as_os_str() == "-" {
        return Ok(read(&mut std::io::stdin().lock()));
    }
    let f = std::fs::File::open(path)
        .map_err(|e| OpsError::io(format!("reading {}", path.display()), &e))?;
    Ok(read(&mut std::io::BufReader::new(f)))
}

/// The run history's lines (a missing history: none).
fn history(sources: &SourceArgs) -> Vec<String> {
    let Some(dir) = &sources.state_dir else {
        return Vec::new();
    };
    std::fs::File::open(dir.join(ops_core::state::RUNS_FILE))
        .map(|f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .collect()
        })
        .unwrap_or_default()
}

/// A unit's run: systemd's verdict (or the flags) and its tools' runs.
pub fn unit(a: &UnitArgs, sources: &SourceArgs) -> Result<UnitFacts, OpsError> {
    let invocation_id = a.invocation_id.clone().or_else(|| monitor("INVOCATION_ID"));
    let runs = match &a.events {
        Some(path) => runs_of(lines_of(path)?.into_iter(), None),
        // Without an id the history cannot say which lines are this run's: none.
        None => match &invocation_id {
            Some(id) => runs_of(history(sources).into_iter(), Some(id)),
            None => Vec::new(),
        },
    };
    let service_result = monitor("SERVICE_RESULT");
    let succeeded = match (a.result, &service_result) {
        (Some(r), _) => r == UnitResult::Success,
        (None, Some(r)) => r == "success",
        (None, None) => !runs.is_empty() && runs.iter().all(|r| r.result == "ok"),
    };
    Ok(UnitFacts {
        unit: a.unit.clone(),
        succeeded,
        service_result,
        exit_status: a.exit_status.clone().or_else(|| monitor("EXIT_STATUS")),
        invocation_id,
        runs,
    })
}

/// The exit code systemd reports (`None`: killed by a signal, or not run by systemd).
pub fn exit_code() -> Option<i32> {
    monitor("EXIT_STATUS").and_then(|s| s.parse().ok())
}

/// The health verdict of the catalog the flags name.
#[derive(Debug)]
pub struct Verdict {
    pub overall: Overall,
    pub components: Vec<Component>,
    /// `None`: the catalog could not be read (`components` says why).
    pub snapshot: Option<Snapshot>,
}

impl Verdict {
    pub fn for_message(&self) -> crate::compose::Verdict<'_> {
        self.snapshot
            .as_ref()
            .map(|s| (self.overall, self.components.as_slice(), s))
    }
}

/// Reads the catalog and judges it; `None` when no catalog is named.
pub fn verdict(sources: &SourceArgs, policy: &PolicyArgs) -> Option<Verdict> {
    sources.at.backup_dir.as_ref()?;
    let policy = policy.policy();
    Some(match ops_health::gather::load(sources) {
        Ok(s) => {
            let (overall, components) = ops_health::health::evaluate(&s, &policy, s.taken_at);
            Verdict {
                overall,
                components,
                snapshot: Some(s),
            }
        }
        Err(e) => Verdict {
            overall: Overall::Unknown,
            components: vec![Component {
                name: "catalog_readable",
                state: ops_health::health::State::NotReady,
                reasons: vec![format!("{}: {}", e.code, e.message)],
            }],
            snapshot: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_run_is_its_lines_in_the_history() {
        let lines = [
            r#"{"event":"run.finished","source":"pgdump-run","correlation_id":"A","result":"ok","exit_code":0,"message":"backup ok"}"#,
            r#"{"event":"run.finished","source":"pgdump-run","correlation_id":"B","result":"failed","exit_code":1,"message":"backup failed","error":{"code":"backup_failed","message":"m"}}"#,
            r#"{"event":"run.finished","source":"backup-verify","correlation_id":"B","result":"ok","exit_code":0,"message":"verify ok"}"#,
            "torn {",
            r#"{"event":"backup.completed","source":"pgdump-run","correlation_id":"B"}"#,
        ];
        let runs = runs_of(lines.iter().map(|s| s.to_string()), Some("B"));
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].error_code.as_deref(), Some("backup_failed"));
        assert_eq!(runs_of(lines.iter().map(|s| s.to_string()), None).len(), 3);
    }
}
