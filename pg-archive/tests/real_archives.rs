//! pg-archive against archives written by the real pg_dump of this machine.

use pg_archive::{read_all, ArchiveError, Format, Reader, Summary};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use testkit::Cluster;

struct Fixture {
    counts: BTreeMap<(String, String), u64>,
    custom_z0: Vec<u8>,
    custom_zlib: Vec<u8>,
    plain: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let c = Cluster::shared();
        let db = c.unique_db("archive");
        c.load_tricky(&db);
        Fixture {
            counts: c.row_counts(&db),
            custom_z0: c.pg_dump(&db, &["-Fc", "-Z0"]),
            custom_zlib: c.pg_dump(&db, &["-Fc"]),
            plain: c.pg_dump(&db, &["-Fp"]),
        }
    })
}

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any single bit flip anywhere: never a panic, and a flip in the magic is always caught.
    /// (Flips inside text fields or row contents can pass the structure check: that is what
    /// the SHA-256 in the manifest is for.)
    #[test]
    fn bit_flips_never_panic(pos_frac in 0.0f64..1.0, bit in 0u8..8, which in 0usize..3) {
        let f = fixture();
        let bytes = [&f.custom_z0, &f.custom_zlib, &f.plain][which];
        let mut damaged = bytes.clone();
        let pos = ((bytes.len() - 1) as f64 * pos_frac) as usize;
        damaged[pos] ^= 1 << bit;
        let result = read_all(&damaged);
        if which < 2 && pos < 5 {
            prop_assert!(result.is_err(), "a flip in the magic was accepted");
        }
    }

    #[test]
    fn random_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..4096), custom in any::<bool>()) {
        if custom {
            data.splice(0..0, b"PGDMP\x01\x0e\x00\x04\x08\x01".iter().copied());
        }
        let _ = read_all(&data);
    }
}

/// Rewrites a real 1.14 archive (pg_dump 12–15, the one installed here) into the layout of
/// 1.15 (pg_dump 16: the header's compression level becomes an algorithm byte) or 1.16
/// (pg_dump 17: every TOC entry also carries its relkind). Data blocks are alike in all.
fn relayout(src: &[u8], minor: u8) -> Vec<u8> {
    assert_eq!(&src[..5], b"PGDMP");
    assert_eq!(src[6], 14, "the source is a 1.14 archive");
    let isz = src[8] as usize;
    let osz = src[9] as usize;
    let mut out = src[..11].to_vec();
    out[6] = minor;
    let mut pos = 11;
    let int = |pos: &mut usize| -> i64 {
        let sign = src[*pos];
        let mut v: i64 = 0;
        for i in 0..isz {
            v |= (src[*pos + 1 + i] as i64) << (8 * i);
        }
        *pos += 1 + isz;
        if sign == 1 {
            -v
        } else {
            v
        }
    };
    let string = |pos: &mut usize| -> Option<Vec<u8>> {
        let len = int(pos);
        if len < 0 {
            return None;
        }
        let s = src[*pos..*pos + len as usize].to_vec();
        *pos += len as usize;
        Some(s)
    };
    let level = int(&mut pos);
    out.push(if level == 0 { 0 } else { 1 }); // none or gzip
    let start = pos;
    for _ in 0..7 {
        int(&mut pos);
    }
    for _ in 0..3 {
        string(&mut pos);
    }
    let count = int(&mut pos);
    out.extend_from_slice(&src[start..pos]);
    for _ in 0..count {
        let entry = pos;
        int(&mut pos); // dumpId
        int(&mut pos); // hadDumper
        string(&mut pos); // tableoid
        string(&mut pos); // oid
        string(&mut pos); // tag
        let desc = string(&mut pos).unwrap_or_default();
        int(&mut pos); // section
        for _ in 0..6 {
            string(&mut pos); // defn, dropStmt, copyStmt, namespace, tablespace, tableam
        }
        out.extend_from_slice(&src[entry..pos]);
        if minor >= 16 {
            let relkind: u8 = if desc == b"TABLE" { b'r' } else { 0 };
            out.push(0);
            out.push(relkind);
            out.extend(std::iter::repeat_n(0, isz - 1));
        }
        let rest = pos;
        string(&mut pos); // owner
        string(&mut pos); // withOids
        while string(&mut pos).is_some() {} // dependencies
        pos += 1 + osz; // data offset
        out.extend_from_slice(&src[rest..pos]);
    }
    out.extend_from_slice(&src[pos..]);
    out
}

#[test]
fn archive_versions_of_pg_dump_16_and_17_read_alike() {
    let f = fixture();
    for (bytes, compression) in [
        (&f.custom_z0, pg_archive::BlockCompression::None),
        (&f.custom_zlib, pg_archive::BlockCompression::Zlib),
    ] {
        let base = read_all(bytes).unwrap();
        for minor in [15u8, 16] {
            let other = relayout(bytes, minor);
            let s = read_all(&other).unwrap_or_else(|e| panic!("1.{minor}: {e}"));
            assert_eq!(s.archive_version, Some((1, minor, 0)));
            assert_eq!(s.compression, Some(compression));
            assert_eq!(s.tables, base.tables, "1.{minor}: same rows");
            assert_eq!(s.large_objects, base.large_objects);
            assert_eq!(s.entries.len(), base.entries.len());
            for cut in (0..other.len()).step_by(97) {
                assert!(
                    read_all(&other[..cut]).is_err(),
                    "1.{minor} prefix {cut} accepted"
                );
            }
        }
    }
    let mut future = f.custom_z0.clone();
    future[6] = 17;
    assert!(matches!(
        read_all(&future),
        Err(ArchiveError::UnsupportedVersion(1, 17, _))
    ));
}
