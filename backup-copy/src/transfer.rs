//! Copies one planned set: data first, then the manifest, so that a set is visible at the
//! destination only once all of it is there and checked.

use crate::plan::SourceSet;
use ops_catalog::catalog::{Manifest, MANIFEST_FILE, SIGNATURE_FILE};
use ops_core::{Category, OpsError};
use ops_offsite::backend::{
    check_source, check_written_size, PutMode, Store, StoreError, TransferError,
};
use std::io::Read;

/// What copying one set did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Bytes sent now.
    pub sent: u64,
    /// Bytes already at the destination from an interrupted copy, checked and kept.
    pub resumed: u64,
    /// Another copy published the set first while this one ran: what stands is its copy,
    /// not this run's (which then copied nothing that counts).
    pub by_another: bool,
    /// The date until which the store locks the set's objects (Object Lock).
    pub locked_until: Option<String>,
}

/// Copies `s` to `dst`. A file already there (`there`: key → size, as listed) with its
/// recorded size is kept (an interrupted copy resumes; an object store never shows a
/// half-written object); every file
/// sent is checked against the manifest's size and SHA-256 as it is read, and against the
/// size the store reports once written. The manifest goes last, create-only.
pub fn copy_set(
    dst: &dyn Store,
    s: &SourceSet,
    path: &std::path::Path,
    manifest: &Manifest,
    there: &std::collections::BTreeMap<String, u64>,
) -> Result<Copied, TransferError> {
    let mut done = Copied::default();
    // On a terminal: the set's bytes going out, against their total.
    let bar = ops_core::progress::bytes(
        format!("{} {}: copy", manifest.database, manifest.id),
        Some(manifest.files.iter().map(|f| f.bytes).sum()),
    );
    for f in &manifest.files {
        let key = s.key(&f.name);
        if there.get(&key) == Some(&f.bytes) {
            done.resumed += f.bytes;
            bar.inc(f.bytes);
            continue;
        }
        let file = path.join(&f.name);
        let mut src = std::fs::File::open(&file)
            .map(|f| {
                bar.reader(std::io::BufReader::with_capacity(
                    ops_core::chunks::CHUNK,
                    f,
                ))
            })
            .map_err(|e| {
                TransferError::Set(OpsError::io(format!("reading {}", file.display()), &e))
            })?;
        let stored = dst
            .put(&key, &mut src, Some(f.bytes), PutMode::Overwrite)
            .map_err(TransferError::store(format!("writing {key}")))?;
        check_source(
            dst,
            &key,
            &file,
            (stored.size, &stored.sha256),
            (f.bytes, &f.sha256),
        )?;
        check_written_size(dst, &key, f.bytes)?;
        done.sent += f.bytes;
    }
    // The manifest's signature goes before the manifest: a signed set is never visible
    // unsigned.
    let signature = path.join(SIGNATURE_FILE);
    if signature.is_file() {
        let text = std::fs::read(&signature).map_err(|e| {
            TransferError::Set(OpsError::io(format!("reading {}", signature.display()), &e))
        })?;
        let key = s.key(SIGNATURE_FILE);
        dst.put(
            &key,
            &mut &text[..],
            Some(text.len() as u64),
            PutMode::Overwrite,
        )
        .map_err(TransferError::store(format!("writing {key}")))?;
    }
    ops_core::failpoint::hit("copy.before_manifest");
    let manifest_path = path.join(MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path).map_err(|e| {
        TransferError::Set(OpsError::io(
            format!("reading {}", manifest_path.display()),
            &e,
        ))
    })?;
    let key = s.key(MANIFEST_FILE);
    match dst.put(
        &key,
        &mut &manifest[..],
        Some(manifest.len() as u64),
        PutMode::Create,
    ) {
        Ok(_) => Ok(done),
        // Another copy finished the same set first: fine if it is the same manifest.
        Err(StoreError::Exists(_)) => {
            let mut theirs = Vec::new();
            dst.open(&key)
                .map_err(TransferError::store(format!("reading {key}")))?
                .read_to_end(&mut theirs)
                .map_err(|e| TransferError::Set(OpsError::io(format!("reading {key}"), &e)))?;
            if theirs == manifest {
                done.by_another = true;
                Ok(done)
            } else {
                Err(TransferError::Set(OpsError::new(
                    "manifest_conflict",
                    Category::Integrity,
                    format!("{key} exists at the destination with other content: left as it is"),
                )))
            }
        }
        Err(e) => Err(TransferError::store(format!("writing {key}"))(e)),
    }
}
