//! `ops-status proofs`: the signed proofs kept in buckets beside the sets (ADR 0025), read
//! back and believed only through their signatures: what a lost server proved comes back
//! with the bucket. A bucket root is expanded to every host prefix in it (a small fleet).

use crate::cli::ProofsArgs;
use ops_catalog::keys::TrustedKey;
use ops_core::event::{Emitter, Severity};
use ops_core::event_names as names;
use ops_core::OpsError;
use ops_offsite::backend::{self, Store, StoreOptions};
use ops_offsite::proofs::{FoundProof, ProofRecord};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Every proof of one catalog, as found.
#[derive(Debug)]
pub struct Catalog {
    pub location: String,
    pub proofs: Vec<FoundProof>,
}

/// The catalogs `location` names: itself when it holds a catalog descriptor, else every
/// prefix right under it that does.
fn catalogs(location: &str) -> Result<Vec<Box<dyn Store>>, OpsError> {
    let at = |e: backend::StoreError| e.to_ops_error(&format!("reading {location}"));
    let store = backend::open_location(location, &StoreOptions::default()).map_err(at)?;
    if store
        .size(ops_offsite::sealed::DESCRIPTOR)
        .map_err(at)?
        .is_some()
    {
        return Ok(vec![store]);
    }
    let mut out = Vec::new();
    for dir in store.list_dir("").map_err(at)?.dirs {
        if store
            .size(&format!("{dir}/{}", ops_offsite::sealed::DESCRIPTOR))
            .map_err(at)?
            .is_some()
        {
            let sub = backend::place_of(location, &dir);
            out.push(backend::open_location(&sub, &StoreOptions::default()).map_err(at)?);
        }
    }
    if out.is_empty() {
        return Err(OpsError::validation(
            "catalog_missing",
            format!("{location}: no pgops catalog here nor in a prefix right under it"),
        ));
    }
    Ok(out)
}

/// Reads every proof of every catalog the locations name.
pub fn read(args: &ProofsArgs, trust: &TrustedKey) -> Result<Vec<Catalog>, OpsError> {
    let mut out = Vec::new();
    for location in &args.locations {
        for store in catalogs(location)? {
            let place = store.location();
            let proofs = ops_offsite::proofs::read(store.as_ref(), "", trust)
                .map_err(|e| e.to_ops_error(&format!("reading the proofs of {place}")))?;
            out.push(Catalog {
                location: place,
                proofs,
            });
        }
    }
    Ok(out)
}

/// The proofs to show: every one, or the newest of each kind per database. Pure.
pub fn shown(proofs: &[FoundProof], all: bool) -> Vec<&ProofRecord> {
    let believed = proofs.iter().filter_map(|p| p.record.as_ref().ok());
    if all {
        let mut v: Vec<&ProofRecord> = believed.collect();
        v.sort_by(|a, b| (&a.dir, &b.at).cmp(&(&b.dir, &a.at)));
        return v;
    }
    let mut newest: BTreeMap<(&str, &str), &ProofRecord> = BTreeMap::new();
    for r in believed {
        let k = (r.dir.as_str(), r.proof.kind.name());
        if newest.get(&k).is_none_or(|n| n.at < r.at) {
            newest.insert(k, r);
        }
    }
    newest.into_values().collect()
}

/// A database's label from its directory.
fn label(dir: &str) -> String {
    ops_catalog::catalog::decode_db_dir(dir).unwrap_or_else(|| dir.to_string())
}

/// `status.proof`.
pub fn payload(location: &str, r: &ProofRecord) -> Value {
    let mut v = json!({
        "location": location,
        "database": label(&r.dir),
        "id": r.set,
        "kind": r.proof.kind.name(),
        "verdict": r.proof.verdict,
        "at": r.at,
        "host": r.host,
        "tool": r.tool,
        "tool_version": r.tool_version,
    });
    let p = &r.proof;
    let extra = [
        ("depth", json!(p.depth)),
        ("tables", json!(p.tables)),
        ("rows", json!(p.rows)),
        ("rto_seconds", json!(p.rto_seconds)),
        ("rpo_seconds", json!(p.rpo_seconds)),
        ("target", json!(p.target)),
        ("failed", json!(p.failed)),
    ];
    for (k, x) in extra {
        if !x.is_null() {
            v[k] = x;
        }
    }
    v
}

/// The table a person reads.
pub fn table(catalogs: &[Catalog], all: bool, width: Option<u16>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header([
            "catalog", "database", "set", "proof", "verdict", "when", "host", "what",
        ]);
    if let Some(w) = width {
        t.set_width(w)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    }
    for c in catalogs {
        for r in shown(&c.proofs, all) {
            let p = &r.proof;
            let what = match (p.depth.as_deref(), p.rto_seconds) {
                (_, Some(rto)) => format!(
                    "{} tables, {} rows, RTO {rto:.1} s",
                    p.tables.unwrap_or(0),
                    p.rows.unwrap_or(0)
                ),
                (Some(depth), None) => depth.to_string(),
                _ => String::new(),
            };
            t.add_row([
                c.location.clone(),
                label(&r.dir),
                r.set.clone(),
                p.kind.name().to_string(),
                json!(p.verdict).as_str().unwrap_or("").to_string(),
                r.at.clone(),
                r.host.clone(),
                what,
            ]);
        }
        for p in &c.proofs {
            if let Err((code, reason)) = &p.record {
                t.add_row([
                    c.location.clone(),
                    String::new(),
                    String::new(),
                    "REFUSED".into(),
                    code.to_string(),
                    String::new(),
                    String::new(),
                    reason.clone(),
                ]);
            }
        }
    }
    t.to_string()
}

/// The view: a table for a person, `status.proof` and `status.proof_refused` lines for
/// scripts. Exit 1 when a proof was refused.
pub fn run(args: &ProofsArgs, person: bool, emitter: &Emitter) -> i32 {
    let read = args.trust.require().and_then(|trust| read(args, &trust));
    let catalogs = match read {
        Ok(c) => c,
        Err(e) => return ops_core::cli::fail_run(emitter, "proofs", e).code(),
    };
    let refused: usize = catalogs
        .iter()
        .map(|c| c.proofs.iter().filter(|p| p.record.is_err()).count())
        .sum();
    let exit = if refused > 0 {
        ops_core::ExitCode::Problem
    } else {
        ops_core::ExitCode::Ok
    };
    if person {
        println!(
            "{}",
            table(&catalogs, args.all, ops_core::human::terminal_width())
        );
        return exit.code();
    }
    let mut shown_n = 0;
    for c in &catalogs {
        for r in shown(&c.proofs, args.all) {
            shown_n += 1;
            emitter.emit(names::STATUS_PROOF, Severity::Info, payload(&c.location, r));
        }
        for p in &c.proofs {
            if let Err((code, reason)) = &p.record {
                emitter.emit(
                    names::STATUS_PROOF_REFUSED,
                    Severity::Error,
                    json!({"location": c.location, "key": p.key, "code": code, "reason": reason}),
                );
            }
        }
    }
    emitter
        .finish(
            "proofs",
            exit,
            json!({"catalogs": catalogs.len(), "proofs": shown_n, "proofs_refused": refused}),
        )
        .code()
}
