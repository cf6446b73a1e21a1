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
