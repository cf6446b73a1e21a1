//! Sets written without a server, for tests of what tools do with a catalog's shape
//! (retention, the rejection rules): a manifest valid in every field and an archive whose
//! sizes and hashes match it, but whose bytes are not a real dump. Tests that need a
//! restorable set take a real backup instead.

use ops_catalog::catalog::{
    self, Algorithm, Compression, DumpFormat, FileEntry, Manifest, SetKind, ToolInfo,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The manifest [`write_set`] writes for `database` (`None`: globals) and `id`.
pub fn manifest(database: Option<&str>, id: &str, archive: &[u8]) -> Manifest {
    let dir = match database {
        Some(db) => catalog::encode_db_dir(db),
        None => catalog::GLOBALS_DIR.to_string(),
    };
    let (format, name) = match database {
        Some(_) => (DumpFormat::Custom, format!("{dir}.dump")),
        None => (DumpFormat::Plain, "globals.sql".to_string()),
    };
    let sha = hex::encode(Sha256::digest(archive));
    let started = ops_core::timefmt::parse_set_id(id).expect("a set id");
    Manifest {
        v: catalog::MANIFEST_VERSION,
        id: id.to_string(),
        kind: if database.is_some() {
            SetKind::Database
        } else {
            SetKind::Globals
        },
        database: database.unwrap_or("").to_string(),
        status: "complete".into(),
        started_at: ops_core::timefmt::rfc3339(started),
        finished_at: ops_core::timefmt::rfc3339(started),
        duration_ms: 0,
        server_version: "15.0".into(),
        pg_dump_version: "15.0".into(),
        format,
        compression: Compression {
            algorithm: Algorithm::None,
            level: None,
        },
        files: vec![FileEntry {
            name,
            bytes: archive.len() as u64,
            sha256: sha,
            raw_bytes: archive.len() as u64,
            raw_sha256: None,
            frame_raw_bytes: None,
        }],
        tables: Vec::new(),
        large_objects: 0,
        database_size: None,
        connection: serde_json::json!({}),
        tool: ToolInfo {
            name: "testkit".into(),
            version: "0".into(),
        },
        correlation_id: "testkit".into(),
        notes: Vec::new(),
        database_properties: None,
        digest_settings: None,
        standby: None,
    }
}

/// Writes a complete set of `database` (`None`: globals) named `id` under `root`, in the
/// directory the catalog gives it. Returns the set's path.
pub fn write_set(root: &Path, database: Option<&str>, id: &str) -> PathBuf {
    let archive = format!("not a real archive of {database:?} {id}\n").into_bytes();
    write_set_holding(root, database, id, &archive)
}

/// [`write_set`], its archive file holding `archive` (e.g. many bytes, for a step that
/// takes time).
pub fn write_set_holding(root: &Path, database: Option<&str>, id: &str, archive: &[u8]) -> PathBuf {
    let dir = match database {
        Some(db) => root.join(catalog::encode_db_dir(db)),
        None => root.join(catalog::GLOBALS_DIR),
    };
    let set = dir.join(id);
    std::fs::create_dir_all(&set).unwrap();
    let m = manifest(database, id, archive);
    std::fs::write(set.join(&m.files[0].name), archive).unwrap();
    catalog::write_manifest(&set, &m).unwrap();
    set
}

/// Copies the set at `from` to `to` (a new directory, named by a set id) and patches the
/// manifest's `id` to match: a set copied by hand, as an operator might.
pub fn copy_set_as(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    match_manifest_id(to);
}

/// Moves the set at `from` to `to` (named by a set id), the manifest's `id` patched to
/// match: a set that looks as if it was taken at another time.
pub fn move_set_as(from: &Path, to: &Path) {
    std::fs::rename(from, to).unwrap();
    match_manifest_id(to);
}

/// Sets the manifest's `id` in `set` to the directory's name.
fn match_manifest_id(set: &Path) {
    let id = set.file_name().unwrap().to_str().unwrap();
    let mpath = set.join(catalog::MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["id"] = id.into();
    std::fs::write(&mpath, m.to_string()).unwrap();
}

/// The only set of `database` in the catalog `root`.
pub fn only_set(root: &Path, database: &str) -> PathBuf {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(root.join(catalog::encode_db_dir(database)))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(ops_core::timefmt::parse_set_id)
                .is_some()
        })
        .collect();
    assert_eq!(sets.len(), 1, "one set of {database}");
    sets.pop().unwrap()
}

/// One line of a drill history (`_drills.jsonl`) as restore-drill appends it, for
/// `database`'s drill that finished at `finished_at` (RFC 3339), built from the catalog's
/// own record type so that a fixture cannot drift from the format.
pub fn drill_line(
    database: &str,
    finished_at: &str,
    rto_ms: u64,
    rpo_s: i64,
    completed: bool,
) -> String {
    let finished: jiff::Timestamp = finished_at.parse().expect("an RFC 3339 time");
    let started = finished
        .checked_sub(jiff::SignedDuration::from_millis(rto_ms as i64))
        .unwrap();
    let entry = ops_catalog::drills::Entry {
        started_at: ops_core::timefmt::rfc3339(started),
        finished_at: Some(finished_at.to_string()),
        database: database.to_string(),
        id: ops_core::timefmt::set_id(started),
        result: if completed { "completed" } else { "failed" }.into(),
        rto_ms,
        rpo_s,
        bytes: None,
        rest: serde_json::Map::from_iter([("rpo_ms".to_string(), (rpo_s * 1000).into())]),
    };
    format!("{}\n", serde_json::to_string(&entry).unwrap())
}
