//! pg-archive against archives written by the real pg_dump of this machine, and by every
//! other installed pg_dump (PGOPS_PG_BIN_DIRS). Hostile input: tests/hostile.rs.

use pg_archive::{read_all, ArchiveError, Format, Reader, Summary};
use proptest::prelude::*;
use std::collections::BTreeMap;
mod common;

use common::fixture;

fn by_table(s: &Summary) -> BTreeMap<(String, String), u64> {
    s.tables
        .iter()
        .map(|t| ((t.schema.clone(), t.name.clone()), t.rows))
        .collect()
}

#[test]
fn row_counts_match_the_server_in_every_format() {
    let f = fixture();
    for (label, bytes, format) in [
        ("custom -Z0", &f.custom_z0, Format::Custom),
        ("custom zlib", &f.custom_zlib, Format::Custom),
        ("plain", &f.plain, Format::Plain),
    ] {
        let s = read_all(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(s.format, format, "{label}");
        assert_eq!(
            by_table(&s),
            f.counts,
            "{label}: rows per table; entries {:?}",
            s.tables
        );
        assert_eq!(s.large_objects, 3, "{label}: large objects");
        assert_eq!(s.bytes, bytes.len() as u64);
    }
    let s = read_all(&f.custom_zlib).unwrap();
    assert_eq!(s.compression, Some(pg_archive::BlockCompression::Zlib));
    assert!(s
        .entries
        .iter()
        .any(|e| e.desc == "TABLE" && e.tag == "Table \"quoted\" é"));
    let s = read_all(&f.custom_z0).unwrap();
    assert_eq!(s.compression, Some(pg_archive::BlockCompression::None));
    assert!(s.pg_dump_version.is_some() && s.server_version.is_some());
}

/// Reads a directory archive as pgops does: each file by its name, then the TOC.
fn read_directory(dir: &std::path::Path) -> Result<Summary, ArchiveError> {
    use pg_archive::directory::{self, DataFile};
    let mut files = std::collections::HashMap::new();
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(mut reader) = DataFile::for_name(&name, true) else {
            continue;
        };
        let data = std::fs::read(dir.join(&name)).unwrap();
        bytes += data.len() as u64;
        reader.feed(&data)?;
        files.insert(name, reader.finish()?);
    }
    let toc = directory::read_toc(&std::fs::read(dir.join(directory::TOC_FILE)).unwrap())?;
    directory::summarize(toc, &files, bytes)
}

#[test]
fn a_directory_archive_read_file_by_file_holds_what_the_custom_one_does() {
    let f = fixture();
    assert!(!f.directories.is_empty());
    for (label, dir, custom) in &f.directories {
        let dir = dir.path().join("d");
        let d = read_directory(&dir).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(d.format, Format::Directory);
        assert_eq!(by_table(&d), f.counts, "{label}");
        assert_eq!(d.large_objects, 3, "{label}");
        let mut r = Reader::with_digests();
        r.feed(custom).unwrap();
        let c = r.finish().unwrap();
        let digests = |s: &Summary| {
            s.tables
                .iter()
                .map(|t| {
                    (
                        t.schema.clone(),
                        t.name.clone(),
                        t.rows,
                        t.columns.clone(),
                        t.digest,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            digests(&d),
            digests(&c),
            "{label}: the same rows, columns and digests"
        );
        assert!(d.tables.iter().all(|t| t.digest.is_some()), "{label}");
        // Every file matters: a missing one, a cut one, a stray one.
        let cut = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), cut.path().join(e.file_name())).unwrap();
        }
        let big = d
            .entries
            .iter()
            .filter(|e| e.desc == "TABLE DATA")
            .filter_map(|e| e.file.clone())
            .max_by_key(|f| std::fs::metadata(dir.join(f)).unwrap().len())
            .unwrap();
        let data = std::fs::read(dir.join(&big)).unwrap();
        std::fs::write(cut.path().join(&big), &data[..data.len() / 2]).unwrap();
        assert!(
            read_directory(cut.path()).is_err(),
            "{label}: {big} cut in half"
        );
        std::fs::remove_file(cut.path().join(&big)).unwrap();
        let e = read_directory(cut.path()).unwrap_err();
        assert!(matches!(e, ArchiveError::Truncated(_)), "{label}: {e}");
        std::fs::write(cut.path().join(&big), &data).unwrap();
        std::fs::write(cut.path().join("99999.dat"), b"\\.\n").unwrap();
        let e = read_directory(cut.path()).unwrap_err();
        assert!(e.to_string().contains("99999.dat"), "{label}: {e}");
        std::fs::remove_file(cut.path().join("99999.dat")).unwrap();
        let blob = std::fs::read_dir(cut.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.starts_with("blob_"))
            .unwrap();
        std::fs::remove_file(cut.path().join(&blob)).unwrap();
        let e = read_directory(cut.path()).unwrap_err();
        assert!(e.to_string().contains(&blob), "{label}: {e}");
    }
}

#[test]
fn every_proper_prefix_of_a_custom_archive_is_an_error() {
    let f = fixture();
    for bytes in [&f.custom_z0, &f.custom_zlib] {
        for cut in 0..bytes.len() {
            let r = read_all(&bytes[..cut]);
            assert!(
                r.is_err(),
                "prefix of {cut}/{} bytes was accepted",
                bytes.len()
            );
        }
    }
}

#[test]
fn a_plain_dump_cut_before_its_marker_is_an_error() {
    let f = fixture();
    let marker = b"-- PostgreSQL database dump complete";
    let at = f
        .plain
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker present");
    for cut in (0..at + marker.len() - 1).step_by(7) {
        assert!(read_all(&f.plain[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn trailing_garbage_and_duplicated_blocks_are_errors() {
    let f = fixture();
    let mut extra = f.custom_z0.clone();
    extra.extend_from_slice(b"\x01\x00\x07\x00\x00\x00");
    assert!(matches!(
        read_all(&extra),
        Err(ArchiveError::Corrupt { .. }) | Err(ArchiveError::Truncated(_))
    ));
    let mut plain = f.plain.clone();
    plain.extend_from_slice(b"DROP TABLE x;\n");
    assert!(read_all(&plain).is_err(), "SQL after the completion marker");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn chunking_does_not_change_the_result(sizes in proptest::collection::vec(1usize..5000, 1..50), which in 0usize..3) {
        let f = fixture();
        let bytes = [&f.custom_z0, &f.custom_zlib, &f.plain][which];
        let mut r = Reader::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < bytes.len() {
            let n = sizes[i % sizes.len()].min(bytes.len() - pos);
            r.feed(&bytes[pos..pos + n]).unwrap();
            pos += n;
            i += 1;
        }
        prop_assert_eq!(r.finish().unwrap(), read_all(bytes).unwrap());
    }
}

#[test]
fn real_archives_of_every_installed_pg_dump_read_alike() {
    let f = fixture();
    let base = read_all(&f.custom_z0).unwrap();
    for (label, bytes) in &f.others {
        let s = read_all(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(by_table(&s), f.counts, "{label}: rows per table");
        assert_eq!(s.large_objects, base.large_objects, "{label}");
        for cut in (0..bytes.len()).step_by(97) {
            assert!(
                read_all(&bytes[..cut]).is_err(),
                "{label}: prefix {cut} accepted"
            );
        }
    }
    let mut future = f.custom_z0.clone();
    future[6] = 17;
    assert!(matches!(
        read_all(&future),
        Err(ArchiveError::UnsupportedVersion(1, 17, _))
    ));
}

/// Found by tests/hostile.rs: one bit turning a `\.` terminator into `].` let the blank
/// lines after it count as rows, and the archive passed with wrong counts.
#[test]
fn a_damaged_copy_terminator_is_an_error() {
    let f = fixture();
    let term = b"\\.\n\n\n";
    let mut damaged = f.custom_z0.clone();
    let at = damaged
        .windows(term.len())
        .position(|w| w == term)
        .expect("a terminator");
    damaged[at] ^= 1;
    let e = read_all(&damaged).unwrap_err();
    assert_eq!(e.code(), "archive_corrupt", "{e}");
    assert!(e.to_string().contains("does not end with its"), "{e}");
}
