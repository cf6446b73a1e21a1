//! backup-verify against a corruption corpus built from real sets of every format and
//! compression: every fault is caught by the right check, and good sets never fail. In a
//! directory set the generic faults hit its first file (`toc.dat`); its other files have a
//! test of their own.

mod common;

use common::verify;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use testkit::{Cluster, ToolRun};

struct Pristine {
    /// (label, catalog dir) per variant; each holds one set of `db`.
    catalogs: Vec<(String, PathBuf)>,
    db: String,
    _dirs: Vec<tempfile::TempDir>,
}

fn pgdump_run(c: &Cluster, args: &[&str]) -> ToolRun {
    let r = ToolRun::check(
        c.tool("pgdump-run")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        let c = Cluster::shared();
        let db = c.unique_db("corpus");
        c.load_tricky(&db);
        c.load_mixed(&db, "0.002");
        let mut catalogs = Vec::new();
        let mut dirs = Vec::new();
        for (format, compress) in [
            ("custom", "zstd"),
            ("custom", "gzip"),
            ("custom", "none"),
            ("plain", "zstd"),
            ("plain", "gzip"),
            ("directory", "zstd"),
            ("directory", "gzip"),
        ] {
            let d = tempfile::tempdir().unwrap();
            let root = d.path().join("catalog");
            pgdump_run(
                c,
                &[
                    "-d",
                    &db,
                    "--backup-dir",
                    root.to_str().unwrap(),
                    "--no-globals",
                    "--format",
                    format,
                    "--compress",
                    compress,
                ],
            );
            catalogs.push((format!("{format}-{compress}"), root));
            dirs.push(d);
        }
        Pristine {
            catalogs,
            db,
            _dirs: dirs,
        }
    })
}

/// A private copy of a pristine catalog, and its only set's directory and archive file.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
    set: PathBuf,
    archive: PathBuf,
}

fn copy_of(label: &str) -> Copy {
    let p = pristine();
    let src = &p.catalogs.iter().find(|(l, _)| l == label).unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&root)
        .status()
        .unwrap()
        .success());
    let db_dir = root.join(ops_catalog::catalog::encode_db_dir(&p.db));
    let set = std::fs::read_dir(&db_dir)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let m: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    let archive = set.join(m["files"][0]["name"].as_str().unwrap());
    Copy {
        _dir: dir,
        root,
        set,
        archive,
    }
}

/// Runs verify on a damaged copy and returns the failed check names.
fn failed_checks(copy: &Copy) -> (Vec<String>, Value) {
    let r = verify(&copy.root, &[]);
    assert_eq!(r.code, 1, "{:#?}", r.events);
    let f = r.named("verify.failed");
    assert_eq!(f.len(), 1, "{:#?}", r.events);
    let names = f[0]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (names, f[0].clone())
}

fn labels() -> Vec<String> {
    pristine().catalogs.iter().map(|(l, _)| l.clone()).collect()
}

fn compressed(label: &str) -> bool {
    !label.ends_with("-none")
}

#[test]
fn good_sets_pass_every_check_and_are_recorded() {
    for label in labels() {
        let c = copy_of(&label);
        let r = verify(&c.root, &[]);
        assert_eq!(r.code, 0, "{label}: {:#?}", r.events);
        let p = r.named("verify.passed");
        assert_eq!(p.len(), 1, "{label}");
        assert!(
            p[0]["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"]
                    == if c["name"] == "signature" {
                        "skip"
                    } else {
                        "pass"
                    }),
            "{label}"
        );
        assert!(p[0]["rows"].as_u64().unwrap() > 2000);
        let rec = testkit::schema::validate_verify_record(&c.set.join("verify.json"));
        assert_eq!(rec["verdict"], "pass");
        assert_eq!(rec["correlation_id"], r.finished()["correlation_id"]);
        // Verifying again, with the record present, still passes (verify.json is the set's own).
        assert_eq!(verify(&c.root, &["--no-record"]).code, 0, "{label}");
    }
}

#[test]
fn truncation_anywhere_is_caught() {
    for label in labels() {
        let len = std::fs::metadata(copy_of(&label).archive).unwrap().len();
        // For the uncompressed custom archive these land in the header, the TOC, a data
        // block and just before the end; for compressed files, at the same fractions.
        for cut in [8, 300.min(len / 10), len * 6 / 10, len - 1] {
            let c = copy_of(&label);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&c.archive)
                .unwrap();
            f.set_len(cut).unwrap();
            let (failed, _) = failed_checks(&c);
            assert!(
                failed.contains(&"files".to_string()),
                "{label} cut {cut}: size"
            );
            assert!(
                failed.contains(&"checksum".to_string()),
                "{label} cut {cut}"
            );
            let right = if compressed(&label) {
                "decode"
            } else {
                "structure"
            };
            assert!(
                failed.contains(&right.to_string()),
                "{label} cut {cut}: {failed:?}"
            );
        }
    }
}

fn flip(path: &Path, at: u64, bit: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 1 << bit;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn single_bit_flips_are_caught() {
    for label in labels() {
        let len = std::fs::metadata(copy_of(&label).archive).unwrap().len();
        // header, TOC, table data, the middle of a compressed frame, the trailer
        for at in [2, 200.min(len / 20), len / 2, len * 3 / 4, len - 1] {
            let c = copy_of(&label);
            flip(&c.archive, at, (at % 8) as u8);
            let (failed, ev) = failed_checks(&c);
            assert!(
                failed.contains(&"checksum".to_string()),
                "{label} flip at {at}"
            );
            assert!(
                !failed.contains(&"files".to_string()),
                "{label}: the size did not change"
            );
            // A flip in compressed data fails `decode` (zstd's and gzip's content checksums)
            // unless it changed nothing that decodes: a deflate stream has bits no decoder
            // reads (found in CI: a flip in a gzip block header, same output). Then only the
            // stored SHA-256 can tell, and it does; everything read is what was written.
            if compressed(&label) && !failed.contains(&"decode".to_string()) {
                assert_eq!(failed, ["checksum"], "{label} flip at {at}: {ev}");
                assert!(label.ends_with("-gzip"), "{label} flip at {at}: {ev}");
            }
        }
    }
}

#[test]
fn empty_missing_and_extra_files() {
    for label in ["custom-zstd", "plain-gzip", "custom-none"] {
        let c = copy_of(label);
        std::fs::write(&c.archive, b"").unwrap();
        let (failed, _) = failed_checks(&c);
        for check in ["files", "checksum", "structure"] {
            assert!(
                failed.contains(&check.to_string()),
                "{label} empty: {check} in {failed:?}"
            );
        }

        let c = copy_of(label);
        std::fs::remove_file(&c.archive).unwrap();
        let (failed, ev) = failed_checks(&c);
        assert!(failed.contains(&"files".to_string()), "{label} missing");
        assert!(ev["checks"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("missing"));

        let c = copy_of(label);
        std::fs::write(c.set.join("notes.txt"), b"hello").unwrap();
        let (failed, _) = failed_checks(&c);
        assert_eq!(failed, ["files"], "{label} extra file");
    }
}

fn edit_manifest(c: &Copy, f: impl FnOnce(&mut Value)) {
    let p = c.set.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn manifest_faults_are_caught_by_the_right_check() {
    let c = copy_of("custom-zstd");
    edit_manifest(&c, |m| {
        m["files"][0]["sha256"] = Value::String("0".repeat(64))
    });
    assert_eq!(failed_checks(&c).0, ["checksum"]);

    let c = copy_of("custom-zstd");
    edit_manifest(&c, |m| {
        let rows = m["tables"][0]["rows"].as_u64().unwrap();
        m["tables"][0]["rows"] = (rows + 1).into();
    });
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["rows"]);
    assert!(ev["checks"][6]["reason"]
        .as_str()
        .unwrap()
        .contains("manifest says"));

    let c = copy_of("plain-zstd");
    edit_manifest(&c, |m| m["large_objects"] = 99.into());
    assert_eq!(failed_checks(&c).0, ["rows"]);

    let c = copy_of("custom-gzip");
    edit_manifest(&c, |m| m["v"] = 99.into());
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["manifest"]);
    assert_eq!(ev["verdict"], "unverifiable");

    let c = copy_of("custom-gzip");
    std::fs::write(c.set.join("manifest.json"), b"{\"v\": 1, \"id\": ").unwrap();
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["manifest"]);
    assert_eq!(ev["verdict"], "fail");

    let c = copy_of("custom-zstd");
    edit_manifest(&c, |m| m["database"] = "someone_else".into());
    assert_eq!(failed_checks(&c).0, ["manifest"]);
}

#[test]
fn a_file_swapped_in_from_another_set_of_the_same_database_is_caught() {
    let p = pristine();
    let cluster = Cluster::shared();
    let c = copy_of("custom-zstd");
    // A second, later set of the same database with other content.
    cluster
        .connect(&p.db)
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS swap_marker (i int); INSERT INTO swap_marker VALUES (1)",
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    pgdump_run(
        cluster,
        &[
            "-d",
            &p.db,
            "--backup-dir",
            c.root.to_str().unwrap(),
            "--no-globals",
        ],
    );
    cluster
        .connect(&p.db)
        .batch_execute("DROP TABLE swap_marker")
        .unwrap();
    let db_dir = c.set.parent().unwrap();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(db_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    sets.sort();
    let newer = &sets[1];
    let newer_archive = std::fs::read_dir(newer)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_str().unwrap().ends_with(".zst"))
        .unwrap();
    std::fs::copy(&newer_archive, &c.archive).unwrap();
    let r = verify(&c.root, &["--all-sets"]);
    assert_eq!(r.code, 1);
    let failed = r.named("verify.failed");
    assert_eq!(failed.len(), 1, "only the older set is damaged");
    let names: Vec<&str> = failed[0]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"checksum") && names.contains(&"decode"),
        "{names:?}"
    );
    assert_eq!(r.named("verify.passed").len(), 1);
}

/// Replaces the archive of `c` with `raw` compressed by `encode`, and records the new
/// stored size and SHA-256 in the manifest (as a writer would have).
fn restore_archive_as(c: &Copy, raw: &[u8], checksum: bool) {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    enc.include_checksum(checksum).unwrap();
    std::io::Write::write_all(&mut enc, raw).unwrap();
    let stored = enc.finish().unwrap();
    std::fs::write(&c.archive, &stored).unwrap();
    use sha2::Digest;
    edit_manifest(c, |m| {
        m["files"][0]["bytes"] = stored.len().into();
        m["files"][0]["sha256"] = hex::encode(sha2::Sha256::digest(&stored)).into();
    });
}

/// ADR 0008: without a raw SHA-256, the proof that the file decodes to what pg_dump wrote
/// is zstd's content checksum, so a frame without one fails `decode`; a set that records a
/// raw SHA-256 (written before) is still held to it.
#[test]
fn content_is_proven_by_the_frame_checksum_or_an_old_sets_raw_sha256() {
    let c = copy_of("custom-zstd");
    let raw = zstd::decode_all(std::fs::File::open(&c.archive).unwrap()).unwrap();
    // pgdump-run's own frames carry the checksum, and its manifests no raw SHA-256.
    let m: Value =
        serde_json::from_slice(&std::fs::read(c.set.join("manifest.json")).unwrap()).unwrap();
    assert!(m["files"][0].get("raw_sha256").is_none());
    let stored = std::fs::read(&c.archive).unwrap();
    assert_ne!(
        stored[4] & 0b100,
        0,
        "pgdump-run's zstd frame has a content checksum"
    );

    // From here on the file is written as one stream, as sets before ADR 0010 were.
    edit_manifest(&c, |m| {
        m["files"][0]
            .as_object_mut()
            .unwrap()
            .remove("frame_raw_bytes");
    });
    restore_archive_as(&c, &raw, false);
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["decode"]);
    assert!(ev.to_string().contains("no content checksum"), "{ev}");

    // The same file in a set written before ADR 0008: its raw SHA-256 proves the content.
    use sha2::Digest;
    let good = hex::encode(sha2::Sha256::digest(&raw));
    edit_manifest(&c, |m| m["files"][0]["raw_sha256"] = good.into());
    let r = verify(&c.root, &[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    edit_manifest(&c, |m| m["files"][0]["raw_sha256"] = "0".repeat(64).into());
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["decode"]);
    assert!(ev.to_string().contains("raw SHA-256"), "{ev}");

    // With the checksum back and no raw SHA-256, the set passes again.
    edit_manifest(&c, |m| {
        m["files"][0].as_object_mut().unwrap().remove("raw_sha256");
    });
    restore_archive_as(&c, &raw, true);
    assert_eq!(verify(&c.root, &[]).code, 0);
}

/// ADR 0010: a framed file's frames are decoded in parallel, each bounded by the size the
/// manifest gives; a frame bigger than that, or one without its checksum or size, fails
/// `decode` before anything is allocated for it.
#[test]
fn framed_files_are_held_to_their_frame_size() {
    let c = copy_of("custom-zstd");
    let m: Value =
        serde_json::from_slice(&std::fs::read(c.set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["files"][0]["frame_raw_bytes"],
        ops_catalog::codec::frames::FRAME_RAW as u64
    );
    assert_eq!(verify(&c.root, &[]).code, 0);
    edit_manifest(&c, |m| m["files"][0]["frame_raw_bytes"] = 1024.into());
    let (failed, ev) = failed_checks(&c);
    // Nothing decoded, so the structure is unproven too.
    assert_eq!(failed, ["decode", "structure"]);
    assert!(
        ev.to_string().contains("more than the set's frames hold"),
        "{ev}"
    );
    // A frame size no writer uses is a manifest fault (it would bound nothing).
    edit_manifest(&c, |m| {
        m["files"][0]["frame_raw_bytes"] = (1u64 << 40).into()
    });
    assert_eq!(failed_checks(&c).0, ["manifest"]);
}

/// `sha256sum`, size and the raw size of what `gzip -dc` makes of `path`.
fn gzip_entry(path: &Path) -> (String, u64, u64) {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let sha = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    let raw = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap()
        .stdout;
    (
        sha,
        std::fs::metadata(path).unwrap().len(),
        raw.len() as u64,
    )
}

/// Writes `raw` gzip-compressed to `path` (through a file: a pipe both ways would fill).
fn gzip_to(path: &Path, raw: &[u8]) {
    let plain = path.with_extension("plain");
    std::fs::write(&plain, raw).unwrap();
    let out = Command::new("gzip").arg("-c").arg(&plain).output().unwrap();
    assert!(out.status.success());
    std::fs::remove_file(&plain).unwrap();
    std::fs::write(path, out.stdout).unwrap();
}

/// A directory set's manifest entry for `name` brought in line with the file on disk (a
/// forger who can rewrite an unsigned manifest).
fn forge_entry(c: &Copy, name: &str) {
    let (sha, bytes, raw) = gzip_entry(&c.set.join(name));
    edit_manifest(c, |m| {
        let files = m["files"].as_array_mut().unwrap();
        let entry = match files.iter().position(|f| f["name"] == name) {
            Some(i) => &mut files[i],
            None => {
                files.push(serde_json::json!({"name": name}));
                files.last_mut().unwrap()
            }
        };
        entry["sha256"] = sha.into();
        entry["bytes"] = bytes.into();
        entry["raw_bytes"] = raw.into();
    });
}

/// The biggest table file of a directory set.
fn biggest_table_file(c: &Copy) -> String {
    std::fs::read_dir(&c.set)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().into_string().unwrap();
            n.starts_with(|ch: char| ch.is_ascii_digit()) && n.contains(".dat")
        })
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .file_name()
        .into_string()
        .unwrap()
}

/// Every file of a directory set is proven, not only its toc.dat: a table's file cut short,
/// a row taken out of one (its manifest entry forged to match), a file the TOC does not
/// name, a large object gone with its entry.
#[test]
fn every_file_of_a_directory_set_is_proven() {
    let c = copy_of("directory-zstd");
    let big = biggest_table_file(&c);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(c.set.join(&big))
        .unwrap();
    f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    let (failed, ev) = failed_checks(&c);
    for check in ["files", "checksum", "decode"] {
        assert!(failed.contains(&check.to_string()), "{check}: {ev}");
    }
    assert!(ev.to_string().contains(&big), "the file is named: {ev}");

    // One row fewer, the entry forged: sizes and hashes agree, the count does not.
    let c = copy_of("directory-gzip");
    let big = biggest_table_file(&c);
    let raw = Command::new("gzip")
        .arg("-dc")
        .arg(c.set.join(&big))
        .output()
        .unwrap()
        .stdout;
    let first_row = raw.iter().position(|&b| b == b'\n').unwrap();
    gzip_to(&c.set.join(&big), &raw[first_row + 1..]);
    forge_entry(&c, &big);
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["rows"], "{ev}");

    // A file listed and hashed, but not named by the TOC.
    let c = copy_of("directory-gzip");
    gzip_to(&c.set.join("99999.dat.gz"), b"\\.\n");
    forge_entry(&c, "99999.dat.gz");
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["structure"], "{ev}");
    assert!(ev.to_string().contains("99999.dat"), "{ev}");

    // A large object's file and its entry both gone: the TOC still lists it.
    let c = copy_of("directory-gzip");
    let blob = std::fs::read_dir(&c.set)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("blob_"))
        .unwrap();
    std::fs::remove_file(c.set.join(&blob)).unwrap();
    edit_manifest(&c, |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["name"] != blob.as_str())
    });
    let (failed, ev) = failed_checks(&c);
    assert_eq!(failed, ["structure"], "{ev}");
    assert!(
        ev.to_string().contains(blob.trim_end_matches(".gz")),
        "{ev}"
    );
}
