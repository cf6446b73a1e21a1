//! The seven checks of a set, as a pure function of the evidence gathered about it.
//!
//! | check | proves |
//! |---|---|
//! | `manifest` | it parses, its version is known, its fields agree with each other and the directory |
//! | `signature` | with `--public-key`: `manifest.json.minisig` checks against it (the set is the backup host's, not a forger's); skipped without a key |
//! | `files` | every listed file is there with its size; nothing else is |
//! | `checksum` | the stored bytes are the ones written (SHA-256) |
//! | `decode` | the whole file decompresses, to the recorded raw size, every content checksum (zstd, gzip) matching; sets that record a raw SHA-256 are checked against it |
//! | `structure` | pg-archive reads the archive to a complete end |
//! | `rows` | rows counted now equal the manifest's, table by table; large objects too |

use crate::scan::{Decoded, Scan};
use ops_catalog::catalog::{
    self, Algorithm, CheckResult, CheckStatus, DumpFormat, FileEntry, Manifest, Verdict,
};
use ops_core::OpsError;
use std::collections::BTreeMap;

pub const CHECKS: [&str; 7] = [
    "manifest",
    "signature",
    "files",
    "checksum",
    "decode",
    "structure",
    "rows",
];

/// An entry of the set directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// `None` for anything that is not a regular file.
    pub size: Option<u64>,
}

/// Everything known about one set before judging it.
#[derive(Debug)]
pub struct Evidence {
    /// The set's directory name (its id) and its parent's (the encoded database).
    pub set_dir: String,
    /// Where the set lies: the database's (or the globals') directory of sets.
    pub dir: catalog::SetDir,
    pub manifest: Result<Manifest, OpsError>,
    pub entries: Vec<Entry>,
    /// One scan per manifest file, in manifest order; `Err` if it could not be read.
    pub scans: Vec<Result<Scan, ReadError>>,
    /// The archive as pg-archive read it from those scans ([`crate::scan::structure`]):
    /// `None` when a file it needs could not be read.
    pub structure: Option<Result<pg_archive::Summary, pg_archive::ArchiveError>>,
    /// The manifest's signature against the trusted key: `None` without a key, else the
    /// key id it checks against or why it does not.
    pub signature: Option<Result<String, String>>,
}

/// Why a file of a set could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// This process may not read it (permissions): nothing is known about the bytes, so the
    /// set is `unverifiable`, not `fail`. Any other error (missing, I/O error) fails it.
    pub denied: bool,
    pub message: String,
}

impl ReadError {
    pub fn from_io(e: &std::io::Error) -> ReadError {
        ReadError {
            denied: e.kind() == std::io::ErrorKind::PermissionDenied,
            message: e.to_string(),
        }
    }

    pub fn missing() -> ReadError {
        ReadError {
            denied: false,
            message: "missing".into(),
        }
    }
}

fn result(name: &str, status: CheckStatus, reason: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        reason: reason.into(),
    }
}

fn pass(name: &str, reason: impl Into<String>) -> CheckResult {
    result(name, CheckStatus::Pass, reason)
}

fn fail(name: &str, reason: impl Into<String>) -> CheckResult {
    result(name, CheckStatus::Fail, reason)
}

fn skip(name: &str, reason: impl Into<String>) -> CheckResult {
    result(name, CheckStatus::Skip, reason)
}

/// Judges a set: its checks in [`CHECKS`] order and the verdict.
pub fn evaluate(e: &Evidence) -> (Verdict, Vec<CheckResult>) {
    let m = match &e.manifest {
        Ok(m) => m,
        Err(err) => {
            let verdict = if err.code == "manifest_version_unknown" {
                Verdict::Unverifiable
            } else {
                Verdict::Fail
            };
            let mut checks = vec![fail("manifest", err.message.clone())];
            checks.extend(CHECKS[1..].iter().map(|c| skip(c, "no usable manifest")));
            return (verdict, checks);
        }
    };
    let mut checks = vec![manifest_check(e, m), signature_check(e)];
    checks.push(files_check(e, m));

    let mut sums = Vec::new();
    let mut decodes = Vec::new();
    for (f, scan) in m.files.iter().zip(&e.scans) {
        match scan {
            Err(why) if why.denied => {}
            Err(why) => {
                sums.push(Err(format!("{}: not readable: {}", f.name, why.message)));
                decodes.push(Err(format!("{}: not readable", f.name)));
            }
            Ok(s) => {
                sums.push(if s.stored_sha256 == f.sha256 {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: SHA-256 is {}, manifest says {}",
                        f.name, s.stored_sha256, f.sha256
                    ))
                });
                decodes.push(decode_result(f, &s.decode));
            }
        }
    }
    let denied: Vec<String> = m
        .files
        .iter()
        .zip(&e.scans)
        .filter_map(|(f, s)| match s {
            Err(why) if why.denied => Some(format!("{}: {}", f.name, why.message)),
            _ => None,
        })
        .collect();
    if denied.is_empty() {
        checks.push(fold("checksum", sums, "every file matches its SHA-256"));
        checks.push(fold(
            "decode",
            decodes,
            "decompresses completely to the recorded size; content checksums match",
        ));
    } else {
        // Nothing is known about bytes this process may not read: the checks that need
        // them are skipped and the set is unverifiable (run as the catalog's owner).
        let why = format!("not readable by this user: {}", denied.join("; "));
        checks.extend(CHECKS[3..].iter().map(|c| skip(c, why.clone())));
        let verdict = if checks.iter().any(|c| c.status == CheckStatus::Fail) {
            Verdict::Fail
        } else {
            Verdict::Unverifiable
        };
        return (verdict, checks);
    }

    // The archive (the first file, or a directory archive's every file): its structure
    // and rows are what the set proves.
    match &e.structure {
        Some(structure) => match structure {
            Ok(summary) => {
                let expected_format = match m.format {
                    DumpFormat::Custom => pg_archive::Format::Custom,
                    DumpFormat::Plain => pg_archive::Format::Plain,
                    DumpFormat::Directory => pg_archive::Format::Directory,
                };
                if summary.format != expected_format {
                    checks.push(fail(
                        "structure",
                        format!(
                            "archive is {:?}, manifest says {:?}",
                            summary.format, m.format
                        ),
                    ));
                } else {
                    checks.push(pass(
                        "structure",
                        format!(
                            "complete {:?} archive, {} TOC entries",
                            summary.format,
                            summary.entries.len()
                        )
                        .to_lowercase(),
                    ));
                }
                checks.push(rows_check(m, summary));
            }
            Err(err) => {
                checks.push(fail("structure", err.to_string()));
                checks.push(skip("rows", "the archive could not be read to its end"));
            }
        },
        None => {
            checks.push(skip("structure", "the archive is missing or unreadable"));
            checks.push(skip("rows", "the archive is missing or unreadable"));
        }
    }
    let verdict = if checks.iter().any(|c| c.status == CheckStatus::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    (verdict, checks)
}

/// The `decode` check of one file: decompressed to its end, to the recorded size, and
/// proven to be what was compressed: by the recorded raw SHA-256 where the set has one
/// (sets before ADR 0008), else by the codec's content checksum, which must be present.
fn decode_result(f: &FileEntry, decode: &Result<Decoded, String>) -> Result<(), String> {
    let d = decode
        .as_ref()
        .map_err(|why| format!("{}: {why}", f.name))?;
    if d.raw_bytes != f.raw_bytes {
        return Err(format!(
            "{}: decompresses to {} bytes, manifest says {}",
            f.name, d.raw_bytes, f.raw_bytes
        ));
    }
    match (&f.raw_sha256, &d.raw_sha256) {
        (Some(want), Some(got)) if got != want => Err(format!(
            "{}: raw SHA-256 is {got}, manifest says {want}",
            f.name
        )),
        (Some(_), _) => Ok(()),
        (None, _) if !d.content_checked => Err(format!(
            "{}: a zstd frame carries no content checksum, so nothing proves it decodes to what pg_dump wrote",
            f.name
        )),
        (None, _) => Ok(()),
    }
}

fn fold(name: &str, parts: Vec<Result<(), String>>, ok: &str) -> CheckResult {
    let errors: Vec<String> = parts.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        pass(name, ok)
    } else {
        fail(name, errors.join("; "))
    }
}

/// The `i`-th file of a directory archive's set has one of pg_dump's names with the set's
/// compression, `toc.dat` first and only first.
fn directory_name(m: &Manifest, i: usize) -> bool {
    use pg_archive::directory::FileKind;
    let kind = m.files[i]
        .name
        .strip_suffix(m.compression.extension())
        .and_then(FileKind::of);
    match kind {
        Some(FileKind::Toc) => i == 0,
        Some(_) => i > 0,
        None => false,
    }
}

fn manifest_check(e: &Evidence, m: &Manifest) -> CheckResult {
    // Where the set lies, as the catalog's one rule sees it.
    let mut problems = m.placement_problems(&e.dir, &e.set_dir);
    if m.status != "complete" {
        problems.push(format!("status is {:?}", m.status));
    }
    if m.files.is_empty() {
        problems.push("lists no file".into());
    }
    // The archive (the first file) is named by its format and compression; the files kept
    // beside it (a globals set's server settings, pg_hba.conf) by their compression; a
    // directory archive's by pg_dump's own names, toc.dat first.
    let archive_suffix = format!(".{}{}", m.format.extension(), m.compression.extension());
    for (i, f) in m.files.iter().enumerate() {
        let suffix = if i == 0 && m.format != DumpFormat::Directory {
            archive_suffix.as_str()
        } else {
            m.compression.extension()
        };
        if !catalog::is_plain_name(&f.name) {
            problems.push(format!("file name {:?} is not allowed", f.name));
        } else if m.format == DumpFormat::Directory && !directory_name(m, i) {
            problems.push(format!(
                "file {} is not a file of a directory archive compressed as the set says{}",
                f.name,
                if i == 0 {
                    " (the first is its toc.dat)"
                } else {
                    ""
                }
            ));
        } else if !f.name.ends_with(suffix) {
            problems.push(format!(
                "file {} does not end in {suffix} as its format and compression say",
                f.name
            ));
        }
        if !is_sha256(&f.sha256) || f.raw_sha256.as_deref().is_some_and(|s| !is_sha256(s)) {
            problems.push(format!("file {} has a malformed SHA-256", f.name));
        }
        if let Some(n) = f.frame_raw_bytes {
            // Bounds what one frame may make verify allocate.
            if m.compression.algorithm != Algorithm::Zstd || !(1024..=MAX_FRAME_RAW).contains(&n) {
                problems.push(format!(
                    "file {} claims zstd frames of {n} bytes (zstd only, 1 KiB to 64 MiB)",
                    f.name
                ));
            }
        }
    }
    if problems.is_empty() {
        pass(
            "manifest",
            format!(
                "version {}, {} file(s), {} tables",
                m.v,
                m.files.len(),
                m.tables.len()
            ),
        )
    } else {
        fail("manifest", problems.join("; "))
    }
}

/// The largest frame a manifest may announce (ADR 0010 writes 4 MiB).
const MAX_FRAME_RAW: u64 = 64 << 20;

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn signature_check(e: &Evidence) -> CheckResult {
    match &e.signature {
        None => skip(
            "signature",
            "no --public-key (PGOPS_PUBLIC_KEY): who wrote the set is not checked",
        ),
        Some(Ok(key)) => pass("signature", format!("signed with the trusted key {key}")),
        Some(Err(why)) => fail("signature", why.clone()),
    }
}

fn files_check(e: &Evidence, m: &Manifest) -> CheckResult {
    let mut problems = Vec::new();
    for f in &m.files {
        match e.entries.iter().find(|x| x.name == f.name) {
            None => problems.push(format!("{} is missing", f.name)),
            Some(Entry { size: None, .. }) => {
                problems.push(format!("{} is not a regular file", f.name))
            }
            Some(Entry { size: Some(n), .. }) if *n != f.bytes => problems.push(format!(
                "{} has {n} bytes, manifest says {}",
                f.name, f.bytes
            )),
            Some(_) => {}
        }
    }
    for x in &e.entries {
        let known = m.files.iter().any(|f| f.name == x.name)
            || catalog::SET_OWN_FILES.contains(&x.name.as_str());
        if !known {
            problems.push(format!("unexpected entry {:?}", x.name));
        }
    }
    if problems.is_empty() {
        pass(
            "files",
            format!("{} file(s) present with their sizes", m.files.len()),
        )
    } else {
        fail("files", problems.join("; "))
    }
}

fn rows_check(m: &Manifest, s: &pg_archive::Summary) -> CheckResult {
    let mut expected: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for t in &m.tables {
        *expected.entry((&t.schema, &t.name)).or_default() += t.rows;
    }
    let mut found: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for t in &s.tables {
        *found.entry((&t.schema, &t.name)).or_default() += t.rows;
    }
    let mut problems = Vec::new();
    for (k, want) in &expected {
        match found.get(k) {
            None => problems.push(format!(
                "{}.{}: in the manifest ({want} rows) but not in the archive",
                k.0, k.1
            )),
            Some(got) if got != want => {
                problems.push(format!("{}.{}: {got} rows, manifest says {want}", k.0, k.1))
            }
            Some(_) => {}
        }
    }
    for (k, got) in &found {
        if !expected.contains_key(k) {
            problems.push(format!(
                "{}.{}: {got} rows in the archive but not in the manifest",
                k.0, k.1
            ));
        }
    }
    if s.large_objects != m.large_objects {
        problems.push(format!(
            "{} large objects, manifest says {}",
            s.large_objects, m.large_objects
        ));
    }
    if problems.is_empty() {
        pass(
            "rows",
            format!(
                "{} tables, {} rows, {} large objects match",
                m.tables.len(),
                m.total_rows(),
                m.large_objects
            ),
        )
    } else {
        let shown = problems.len().min(20);
        let more = problems.len() - shown;
        let mut text = problems[..shown].join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        fail("rows", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_catalog::catalog::SetKind;
    use ops_catalog::catalog::{Compression, TableRows, ToolInfo};
    use proptest::prelude::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn manifest(rows: &[u64]) -> Manifest {
        Manifest {
            v: 1,
            id: "20261124T030001Z".into(),
            kind: SetKind::Database,
            database: "app".into(),
            status: "complete".into(),
            started_at: String::new(),
            finished_at: String::new(),
            duration_ms: 0,
            server_version: "15".into(),
            pg_dump_version: "15".into(),
            format: DumpFormat::Custom,
            compression: "zstd".parse::<Compression>().unwrap(),
            files: vec![FileEntry {
                name: "app.dump.zst".into(),
                bytes: 100,
                sha256: SHA_A.into(),
                raw_bytes: 1000,
                raw_sha256: None,
                frame_raw_bytes: None,
            }],
            tables: rows
                .iter()
                .enumerate()
                .map(|(i, r)| TableRows {
                    schema: "s".into(),
                    name: format!("t{i}"),
                    rows: *r,
                    ..Default::default()
                })
                .collect(),
            large_objects: 0,
            database_size: None,
            connection: serde_json::Value::Null,
            tool: ToolInfo {
                name: "t".into(),
                version: "0".into(),
            },
            correlation_id: "c".into(),
            notes: vec![],
            database_properties: None,
            digest_settings: None,
            standby: None,
        }
    }

    fn summary(rows: &[u64]) -> pg_archive::Summary {
        pg_archive::Summary {
            format: pg_archive::Format::Custom,
            archive_version: Some((1, 14, 0)),
            compression: None,
            dbname: None,
            server_version: None,
            pg_dump_version: None,
            entries: vec![],
            tables: rows
                .iter()
                .enumerate()
                .map(|(i, r)| pg_archive::TableCount {
                    schema: "s".into(),
                    name: format!("t{i}"),
                    rows: *r,
                    ..Default::default()
                })
                .collect(),
            large_objects: 0,
            bytes: 1000,
            offset_size: None,
        }
    }

    /// One fault of the evidence and the check that must catch it.
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        Size,
        Checksum,
        RawSize,
        /// An old set's recorded raw SHA-256 differs.
        RawSha,
        /// A zstd frame without a content checksum.
        Unchecked,
        Decode,
        Structure,
        Rows,
        Extra,
        /// The manifest's signature does not check against the trusted key.
        Signature,
    }

    fn evidence(rows: &[u64], faults: &[Fault]) -> Evidence {
        let mut m = manifest(rows);
        let mut signature = Ok("KEY".to_string());
        let mut size = 100;
        let mut stored = SHA_A.to_string();
        let mut decode = Ok(Decoded {
            raw_bytes: 1000,
            raw_sha256: None,
            content_checked: true,
        });
        let mut structure = Ok(summary(rows));
        let mut entries = vec![Entry {
            name: "manifest.json".into(),
            size: Some(1),
        }];
        for f in faults {
            match f {
                Fault::Size => size += 1,
                Fault::Checksum => stored = SHA_B.into(),
                Fault::RawSize => {
                    if let Ok(d) = decode.as_mut() {
                        d.raw_bytes = 999;
                    }
                }
                Fault::RawSha => {
                    m.files[0].raw_sha256 = Some(SHA_A.into());
                    if let Ok(d) = decode.as_mut() {
                        d.raw_sha256 = Some(SHA_B.into());
                    }
                }
                Fault::Unchecked => {
                    if let Ok(d) = decode.as_mut() {
                        d.content_checked = false;
                    }
                }
                Fault::Decode => decode = Err("zstd: broken".into()),
                Fault::Structure => {
                    structure = Err(pg_archive::ArchiveError::Truncated("x".into()))
                }
                Fault::Rows => {
                    if let Ok(s) = structure.as_mut() {
                        if let Some(t) = s.tables.first_mut() {
                            t.rows += 1;
                        } else {
                            s.large_objects += 1;
                        }
                    }
                }
                Fault::Extra => entries.push(Entry {
                    name: "stray".into(),
                    size: Some(1),
                }),
                Fault::Signature => signature = Err("forged".to_string()),
            }
        }
        entries.push(Entry {
            name: "app.dump.zst".into(),
            size: Some(size),
        });
        Evidence {
            set_dir: m.id.clone(),
            dir: catalog::SetDir {
                database: Some("app".into()),
                path: "app".into(),
                trust: None,
            },
            manifest: Ok(m),
            entries,
            scans: vec![Ok(Scan {
                stored_bytes: size,
                stored_sha256: stored,
                decode,
                read: crate::scan::Read::Nothing,
            })],
            structure: Some(structure),
            signature: Some(signature),
        }
    }

    fn status(checks: &[CheckResult], name: &str) -> CheckStatus {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            Just(Fault::Size),
            Just(Fault::Checksum),
            Just(Fault::RawSize),
            Just(Fault::RawSha),
            Just(Fault::Unchecked),
            Just(Fault::Decode),
            Just(Fault::Structure),
            Just(Fault::Rows),
            Just(Fault::Extra),
            Just(Fault::Signature),
        ]
    }

    fn m_has_raw_sha(faults: &[Fault]) -> bool {
        faults.iter().any(|f| matches!(f, Fault::RawSha))
    }

    #[test]
    fn clean_evidence_passes_everything() {
        let (verdict, checks) = evaluate(&evidence(&[3, 0, 7], &[]));
        assert_eq!(verdict, Verdict::Pass);
        assert_eq!(
            checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            CHECKS
        );
        assert!(checks.iter().all(|c| c.status == CheckStatus::Pass));
    }

    proptest! {
        /// Any combination of faults fails the set, and each fault is named by its check.
        #[test]
        fn every_fault_fails_its_own_check(rows in proptest::collection::vec(0u64..1_000_000, 0..8),
                                           faults in proptest::collection::vec(fault(), 0..4)) {
            let (verdict, checks) = evaluate(&evidence(&rows, &faults));
            prop_assert_eq!(checks.len(), 7);
            prop_assert_eq!(verdict == Verdict::Pass, faults.is_empty());
            prop_assert_eq!(
                verdict == Verdict::Pass,
                checks.iter().all(|c| c.status == CheckStatus::Pass)
            );
            for f in &faults {
                let name = match f {
                    Fault::Size | Fault::Extra => "files",
                    Fault::Signature => "signature",
                    Fault::Checksum => "checksum",
                    Fault::RawSize | Fault::Decode | Fault::RawSha => "decode",
                    // An old set's raw SHA-256 is proof enough without the codec's.
                    Fault::Unchecked if m_has_raw_sha(&faults) => continue,
                    Fault::Unchecked => "decode",
                    Fault::Structure => "structure",
                    // Rows can only be judged when the structure was read to its end.
                    Fault::Rows if faults.iter().any(|g| matches!(g, Fault::Structure)) => "structure",
                    Fault::Rows => "rows",
                };
                prop_assert_eq!(status(&checks, name), CheckStatus::Fail, "{:?} -> {}", f, name);
            }
        }
    }
}
