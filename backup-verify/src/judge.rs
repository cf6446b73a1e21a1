//! From a set as its storage opened it ([`ForCheck`]) to the seven checks, whatever the
//! storage: files in a directory are read and judged by [`checks::evaluate`]; a sealed
//! set's envelope by what it proves without the plaintext; a set that could not be opened
//! fails the one check that says why.

use crate::checks::{self, Evidence};
use crate::evidence::gather;
use ops_catalog::catalog::{CheckResult, CheckStatus, Verdict};
use ops_catalog::sets::{Depth, EnvelopeProof, ForCheck};

/// What checking one set found.
#[derive(Debug)]
pub struct Judged {
    /// What was read of its files (a check in full).
    pub evidence: Option<Evidence>,
    pub checks: Vec<CheckResult>,
    /// Pass, fail, or unverifiable (a file could not be read: nothing is known of it).
    pub verdict: Verdict,
    /// How deep the checks went.
    pub depth: Depth,
    pub stored_bytes: Option<u64>,
}

impl Judged {
    /// Checks that name no reading failure: a failed check fails the set.
    pub fn of_checks(checks: Vec<CheckResult>, depth: Depth, stored_bytes: Option<u64>) -> Judged {
        let verdict = if checks.iter().any(|c| c.status == CheckStatus::Fail) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        Judged {
            evidence: None,
            checks,
            verdict,
            depth,
            stored_bytes,
        }
    }
}

impl Judged {
    /// The set rule refused this set (`code`, `reason`): it fails, whatever its bytes
    /// showed. The manifest check says so unless a check failed already.
    pub fn refuse(&mut self, code: &str, reason: &str) {
        if self.verdict != Verdict::Pass {
            return;
        }
        if let Some(c) = self.checks.iter_mut().find(|c| c.name == "manifest") {
            c.status = CheckStatus::Fail;
            c.reason = format!("{code}: {reason} (not taken for a set; every other check ran)");
        }
        self.verdict = Verdict::Fail;
    }
}

fn check(name: &str, status: CheckStatus, reason: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        reason: reason.into(),
    }
}

/// The seven checks of a set that one check (`failing`) fails and after which nothing
/// else could be looked at.
pub fn only_failing(failing: &str, reason: &str, skipped: &str) -> Vec<CheckResult> {
    checks::CHECKS
        .iter()
        .map(|&c| {
            if c == failing {
                check(c, CheckStatus::Fail, reason)
            } else {
                check(c, CheckStatus::Skip, skipped)
            }
        })
        .collect()
}

/// A check that passes with `reason` when nothing is wrong, and fails naming every problem.
fn judged(name: &str, problems: &[String], reason: &str) -> CheckResult {
    if problems.is_empty() {
        check(name, CheckStatus::Pass, reason)
    } else {
        check(name, CheckStatus::Fail, problems.join("; "))
    }
}

/// The checks of `opened`, asked at `depth` (which the storage bounds).
pub fn judge(opened: &ForCheck, depth: Depth) -> Judged {
    match opened {
        ForCheck::Files {
            dir,
            set,
            stored_bytes,
            ..
        } => {
            let evidence = gather(dir, set);
            let (verdict, checks) = checks::evaluate(&evidence);
            Judged {
                evidence: Some(evidence),
                checks,
                verdict,
                depth: Depth::Full,
                stored_bytes: *stored_bytes,
            }
        }
        ForCheck::Envelope(proof) => Judged::of_checks(
            envelope_checks(proof, depth),
            depth.min(Depth::Ciphertext),
            Some(proof.stored_bytes),
        ),
        ForCheck::Failed {
            check,
            code,
            reason,
            stored_bytes,
        } => Judged::of_checks(
            only_failing(
                check,
                reason,
                &format!("the set could not be opened ({code})"),
            ),
            depth,
            *stored_bytes,
        ),
    }
}

/// What a sealed set's signed envelope and the listing prove (and at `Ciphertext`, the
/// hashes of its objects). Pure.
fn envelope_checks(p: &EnvelopeProof, depth: Depth) -> Vec<CheckResult> {
    use CheckStatus::*;
    let mut out = vec![
        check("manifest", Pass, &p.envelope),
        match &p.signature {
            Ok(key) => check(
                "signature",
                Pass,
                format!("the envelope and the manifest are signed with the trusted key {key}"),
            ),
            Err(why) => check("signature", Fail, why),
        },
        judged(
            "files",
            &p.missing,
            "every object of the envelope is there with its size",
        ),
        match (&p.altered, depth >= Depth::Ciphertext) {
            (_, false) => check(
                "checksum",
                Skip,
                "the ciphertext was not read: --read-data downloads and hashes it",
            ),
            (None, true) => check("checksum", Skip, "objects are missing"),
            (Some(altered), true) => judged(
                "checksum",
                altered,
                "every object's SHA-256 is the envelope's (ciphertext)",
            ),
        },
    ];
    for c in ["decode", "structure", "rows"] {
        out.push(check(
            c,
            Skip,
            "the content is encrypted: --identity decrypts and checks it",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof() -> EnvelopeProof {
        EnvelopeProof {
            envelope: "envelope v2: 3 objects".into(),
            signature: Ok("ABCD".into()),
            missing: Vec::new(),
            altered: None,
            stored_bytes: 10,
        }
    }

    fn status(checks: &[CheckResult], name: &str) -> CheckStatus {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    #[test]
    fn an_envelope_proves_presence_and_skips_what_it_cannot_see() {
        let j = judge(&ForCheck::Envelope(proof()), Depth::Presence);
        assert_eq!(j.verdict, Verdict::Pass);
        assert_eq!(j.depth, Depth::Presence);
        assert_eq!(status(&j.checks, "checksum"), CheckStatus::Skip);
        assert_eq!(status(&j.checks, "rows"), CheckStatus::Skip);
    }

    #[test]
    fn an_altered_object_fails_the_checksum_when_read() {
        let mut p = proof();
        p.altered = Some(vec!["x.age: altered".into()]);
        let j = judge(&ForCheck::Envelope(p), Depth::Full);
        assert_eq!(
            j.depth,
            Depth::Ciphertext,
            "an envelope proves no more than this"
        );
        assert_eq!(status(&j.checks, "checksum"), CheckStatus::Fail);
        assert_eq!(j.verdict, Verdict::Fail);
    }

    #[test]
    fn missing_objects_fail_files_and_an_unsigned_manifest_fails_signature() {
        let mut p = proof();
        p.missing = vec!["a is missing".into()];
        p.signature = Err("unsigned".into());
        let j = judge(&ForCheck::Envelope(p), Depth::Ciphertext);
        assert_eq!(status(&j.checks, "files"), CheckStatus::Fail);
        assert_eq!(status(&j.checks, "signature"), CheckStatus::Fail);
        assert_eq!(status(&j.checks, "checksum"), CheckStatus::Skip);
    }

    #[test]
    fn a_set_that_could_not_be_opened_fails_one_named_check() {
        let j = judge(
            &ForCheck::Failed {
                check: "signature",
                code: "signature_invalid",
                reason: "signature_invalid: forged".into(),
                stored_bytes: None,
            },
            Depth::Full,
        );
        let failed: Vec<&str> = j
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, ["signature"]);
        assert_eq!(j.checks.len(), 7);
    }

    #[test]
    fn a_refused_set_fails_its_manifest_check_whatever_its_bytes() {
        let mut j = judge(&ForCheck::Envelope(proof()), Depth::Presence);
        j.refuse("clock_skew", "starts in 2099");
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(status(&j.checks, "manifest"), CheckStatus::Fail);
        assert_eq!(status(&j.checks, "signature"), CheckStatus::Pass);
        // A set that failed already keeps the check that failed it.
        let mut p = proof();
        p.missing = vec!["a is missing".into()];
        let mut j = judge(&ForCheck::Envelope(p), Depth::Presence);
        j.refuse("clock_skew", "starts in 2099");
        assert_eq!(status(&j.checks, "manifest"), CheckStatus::Pass);
        assert_eq!(status(&j.checks, "files"), CheckStatus::Fail);
    }
}
