//! What a set's directory holds, read once: the manifest, the entries, each stored file
//! hashed, decoded and parsed in one pass ([`crate::scan`]). The checks judge it.

use crate::checks::{self, Entry, Evidence};
use crate::scan;
use ops_catalog::catalog::{self, SetDir, SetRef};
use ops_core::{Category, OpsError};
use std::path::Path;

fn list_entries(dir: &Path) -> Vec<Entry> {
    let mut out: Vec<Entry> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let size = e.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                size,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Everything known about `set` (lying in `dir`), read from its directory (one pass per
/// file).
pub fn gather(dir: &SetDir, set: &SetRef) -> Evidence {
    // A link is never followed into a set (the catalog's one rule): it has no manifest.
    let real_dir = std::fs::symlink_metadata(&set.path).is_ok_and(|m| m.is_dir());
    // The manifest is read once: its bytes for the signature, what they say for the rest.
    let loaded = if real_dir {
        catalog::load_manifest(&set.manifest_path())
    } else {
        Err(OpsError::new(
            catalog::Rejection::NotADirectory.code(),
            Category::Integrity,
            format!("{} is a link or not a directory", set.path.display()),
        ))
    };
    let (bytes, manifest) = match loaded {
        Ok((b, m)) => (Some(b), Ok(m)),
        Err(e) => (None, Err(e)),
    };
    let entries = if real_dir {
        list_entries(&set.path)
    } else {
        Vec::new()
    };
    // On a terminal, a bar per set: the decoded bytes against what the manifest says.
    let bar = manifest.as_ref().ok().map(|m| {
        ops_core::progress::bytes(
            format!("{} {}: verify", dir.label(), set.id),
            Some(m.files.iter().map(|f| f.raw_bytes).sum()),
        )
    });
    let scans = match (&manifest, &bar) {
        (Ok(m), Some(bar)) => scan_files(m, &entries, &set.path, bar),
        _ => Vec::new(),
    };
    drop(bar);
    let structure = manifest
        .as_ref()
        .ok()
        .and_then(|m| scan::structure(m, &scans));
    let signature = dir.trust.as_ref().map(|key| match &bytes {
        Some(b) => catalog::check_signature(key, &set.path, b),
        None => Err("the manifest could not be read".to_string()),
    });
    Evidence {
        set_dir: set.id.clone(),
        dir: dir.clone(),
        manifest,
        entries,
        scans,
        structure,
        signature,
    }
}

/// Reads every file `m` lists (that exists as a plain file among `entries`) once, in
/// manifest order; a directory archive's several at once (most are far smaller than one
/// zstd frame, which a single file would decode on every core).
fn scan_files(
    m: &catalog::Manifest,
    entries: &[Entry],
    set: &Path,
    bar: &ops_core::progress::Bar,
) -> Vec<Result<scan::Scan, checks::ReadError>> {
    let scan_one = |i: usize, f: &catalog::FileEntry| {
        // Only names that exist as plain files in the directory are ever opened.
        match entries
            .iter()
            .find(|e| e.name == f.name && e.size.is_some())
        {
            Some(e) => scan::scan_file(
                &set.join(&e.name),
                scan::Layout {
                    algorithm: m.compression.algorithm,
                    frame_raw: f.frame_raw_bytes.map(|n| n as usize),
                    raw_sha256: f.raw_sha256.is_some(),
                },
                &scan::Reading::of(m, i),
                &bar.counter(),
            )
            .map_err(|e| checks::ReadError::from_io(&e)),
            None => Err(checks::ReadError::missing()),
        }
    };
    let jobs = if m.format == catalog::DumpFormat::Directory {
        ops_core::parallel::cores()
    } else {
        1
    };
    let indexed: Vec<(usize, &catalog::FileEntry)> = m.files.iter().enumerate().collect();
    ops_core::parallel::map(&indexed, jobs, |&(i, f)| scan_one(i, f))
}
