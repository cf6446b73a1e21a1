//! `reseal`: every intact set of the catalog sealed again to new recipients, one at a
//! time (ops_offsite::sealed::reseal), then the catalog's descriptor names them.

use crate::cli::Reseal;
use crate::report;
use ops_core::event::Emitter;
use ops_core::{ExitCode, OpsError};
use ops_offsite::backend::{PutMode, Store};
use ops_offsite::keys::Recipients;
use ops_offsite::sealed::open::{check_descriptor, read_small, scan_dir, set_dirs};
use ops_offsite::sealed::reseal::{reseal, Rekey};
use ops_offsite::sealed::DESCRIPTOR;

pub fn run(
    store: &dyn Store,
    args: &Reseal,
    emitter: &Emitter,
    tally: &mut report::Tally,
) -> Result<ExitCode, OpsError> {
    let identities = args.identity.require()?;
    let trust = args.trust.require()?;
    let recipients = Recipients::parse(&args.recipients, &args.recipients_files)?;
    if recipients.listed.is_empty() {
        return Err(OpsError::validation(
            "encryption_required",
            "re-sealing needs the new recipients: pass --recipient or --recipients-file",
        ));
    }
    let signing = args.signing.load()?.ok_or_else(|| {
        OpsError::validation(
            "signing_key_required",
            "re-sealed envelopes are signed: pass --signing-key (the key readers trust)",
        )
    })?;
    check_descriptor(store)?;
    let keys = Rekey {
        identities: &identities,
        trust: &trust,
        recipients: &recipients,
        signing: &signing,
    };
    let location = store.location();
    let at = |e: ops_offsite::backend::StoreError| e.to_ops_error(&format!("reading {location}"));
    let now = jiff::Timestamp::now();
    let (mut done, mut failed) = (0, 0);
    for (dir, label) in set_dirs(store, |_| true).map_err(at)? {
        for set in scan_dir(store, &dir, &trust, now).map_err(at)?.sets {
            let scratch = ops_core::scratch::dir("reseal")
                .map_err(|e| OpsError::io("creating a scratch catalog", &e))?;
            match reseal(store, &set, &keys, scratch.path()) {
                Ok(r) => {
                    done += 1;
                    emitter.send(&report::Resealed {
                        location: &location,
                        database: &label,
                        id: &set.id,
                        removed: r.removed,
                        locked: r.locked,
                    });
                }
                // The identity opens nothing: no set of this catalog will do better.
                Err(e) if e.code == "wrong_identity" => return Err(e),
                Err(e) => {
                    failed += 1;
                    emitter.send(&report::Failed {
                        location: &location,
                        key: &format!("{dir}/{}", set.id),
                        error: &e,
                    });
                }
            }
        }
    }
    update_descriptor(store, &recipients)?;
    tally.sets_resealed = Some(done);
    tally.sets_failed = Some(failed);
    Ok(if failed > 0 {
        ExitCode::Problem
    } else {
        ExitCode::Ok
    })
}

/// The descriptor names the new recipients (what the backup host should encrypt to).
fn update_descriptor(store: &dyn Store, recipients: &Recipients) -> Result<(), OpsError> {
    let at =
        |e: ops_offsite::backend::StoreError| e.to_ops_error(&format!("updating {DESCRIPTOR}"));
    let mut d: serde_json::Value =
        serde_json::from_slice(&read_small(store, DESCRIPTOR).map_err(at)?).unwrap_or_default();
    d["recipients"] = serde_json::json!(recipients.listed);
    let text = serde_json::to_vec_pretty(&d).expect("a descriptor serializes");
    store
        .put(
            DESCRIPTOR,
            &mut &text[..],
            Some(text.len() as u64),
            PutMode::Overwrite,
        )
        .map(|_| ())
        .map_err(at)
}
