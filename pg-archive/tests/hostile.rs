//! Hostile input: truncations, bit flips, overwritten ranges and random bytes, derived from
//! real archives of every installed pg_dump. The reader must answer every one with a clean
//! error or a sound result: never a panic, never a hang, never an allocation out of
//! proportion to its input. Thousands of cases per run, in one test so that the counting
//! allocator below measures this reader alone.

mod common;

use common::fixture;
use pg_archive::{read_all, Summary};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Tracks the bytes allocated now and the peak since the last reset.
struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Most a read may allocate beyond its input: zlib's window and scratch, the TOC.
const ALLOWANCE: usize = 16 << 20;
const SLOW: Duration = Duration::from_secs(5);

/// When the current case started (ms since `EPOCH`), 0 when none runs.
static CASE_START: AtomicU64 = AtomicU64::new(0);

fn watchdog(epoch: Instant) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let start = CASE_START.load(Ordering::Relaxed);
        let now = epoch.elapsed().as_millis() as u64;
        if start != 0 && now.saturating_sub(start) > 60_000 {
            eprintln!("a read has run for over 60 s: the reader hangs on hostile input");
            std::process::abort();
        }
    });
}

/// Reads `input` under the bounds: time and memory.
fn bounded_read(
    epoch: Instant,
    input: &[u8],
) -> Result<Result<Summary, pg_archive::ArchiveError>, TestCaseError> {
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    CASE_START.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
    let result = read_all(input);
    CASE_START.store(0, Ordering::Relaxed);
    let took = started.elapsed();
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    prop_assert!(took < SLOW, "{} bytes took {took:?}", input.len());
    prop_assert!(
        used <= input.len() + ALLOWANCE,
        "{} bytes of input allocated {used} bytes",
        input.len()
    );
    Ok(result)
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn hostile_input_gets_a_clean_error_or_a_sound_result() {
    let f = fixture();
    let archives = f.all();
    let truth: Vec<Summary> = archives.iter().map(|(_, b)| read_all(b).unwrap()).collect();
    let is_custom = |i: usize| archives[i].1.starts_with(b"PGDMP");
    let epoch = Instant::now();
    watchdog(epoch);
    let mut total = 0;

    // Truncation anywhere: a custom archive cut short is always an error.
    run(1500, (any::<Index>(), any::<Index>()), |(which, at)| {
        let i = which.index(archives.len());
        let bytes = archives[i].1;
        let cut = at.index(bytes.len());
        let r = bounded_read(epoch, &bytes[..cut])?;
        if is_custom(i) {
            prop_assert!(
                r.is_err(),
                "{}: a prefix of {cut} bytes was accepted",
                archives[i].0
            );
        }
        Ok(())
    });
    total += 1500;

    // 1 to 8 bit flips: an error, or a result of the same shape. When the TOC reads the
    // same, a flip can only have hit row text, where it moves a row boundary by one at most.
    // (A flip that renames an entry, say `TABLE DATA` to `TABLE DATQ`, yields another
    // archive that reads soundly; the manifest's row counts and SHA-256 catch that.)
    run(
        3000,
        (
            any::<Index>(),
            proptest::collection::vec((any::<Index>(), 0u8..8), 1..9),
        ),
        |(which, flips)| {
            let i = which.index(archives.len());
            let mut bytes = archives[i].1.to_vec();
            let mut at_bytes = Vec::new();
            for (at, bit) in &flips {
                let p = at.index(bytes.len());
                at_bytes.push((p, bytes[p], bit));
                bytes[p] ^= 1 << bit;
            }
            let r = bounded_read(epoch, &bytes)?;
            if let (Ok(s), true) = (&r, is_custom(i)) {
                let t = &truth[i];
                prop_assert_eq!(s.bytes, bytes.len() as u64);
                prop_assert_eq!(
                    s.entries.len(),
                    t.entries.len(),
                    "{}: entries",
                    archives[i].0
                );
                if s.entries != t.entries {
                    return Ok(());
                }
                let drift = s.total_rows().abs_diff(t.total_rows());
                prop_assert!(
                    drift <= flips.len() as u64,
                    "{}: rows moved by {drift} with flips {at_bytes:?}: {:?} instead of {:?}",
                    archives[i].0,
                    s.tables,
                    t.tables
                );
            }
            Ok(())
        },
    );
    total += 3000;

    // A range overwritten with random bytes (a torn write, a bad sector).
    run(
        1000,
        (
            any::<Index>(),
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..512),
        ),
        |(which, at, junk)| {
            let i = which.index(archives.len());
            let mut bytes = archives[i].1.to_vec();
            let p = at.index(bytes.len());
            let end = (p + junk.len()).min(bytes.len());
            bytes[p..end].copy_from_slice(&junk[..end - p]);
            let _ = bounded_read(epoch, &bytes)?;
            Ok(())
        },
    );
    total += 1000;

    // Random bytes behind a valid header of each real archive (version, sizes, and the
    // first TOC fields), and random bytes alone.
    run(
        1500,
        (
            any::<Index>(),
            0usize..200,
            proptest::collection::vec(any::<u8>(), 0..8192),
        ),
        |(which, keep, junk)| {
            let i = which.index(archives.len());
            let head = &archives[i].1[..keep.min(archives[i].1.len())];
            let input: Vec<u8> = head.iter().copied().chain(junk).collect();
            let _ = bounded_read(epoch, &input)?;
            Ok(())
        },
    );
    total += 1500;
    eprintln!(
        "{total} hostile inputs from {} real archives",
        archives.len()
    );
}

/// A directory archive's `toc.dat` and lists: cut anywhere, an error; bits flipped or
/// bytes overwritten, an error or a TOC whose every file name is one pg_dump writes.
#[test]
fn a_hostile_directory_toc_gets_a_clean_error_or_only_names_pg_dump_writes() {
    use pg_archive::directory::{self, FileKind};
    let f = fixture();
    let (_, dir, _) = &f.directories[0];
    let toc = std::fs::read(dir.path().join("d").join(directory::TOC_FILE)).unwrap();
    assert!(directory::read_toc(&toc).is_ok());
    for cut in (0..toc.len()).step_by(3) {
        assert!(
            directory::read_toc(&toc[..cut]).is_err(),
            "a prefix of {cut} bytes"
        );
    }
    let sound = |r: Result<directory::Toc, pg_archive::ArchiveError>| {
        if let Ok(t) = r {
            for e in &t.entries {
                if let Some(file) = &e.file {
                    let kind = FileKind::of(file);
                    prop_assert!(
                        matches!(kind, Some(FileKind::Data(_) | FileKind::BlobsToc)),
                        "{file:?}"
                    );
                }
            }
        }
        Ok(())
    };
    run(
        3000,
        proptest::collection::vec((any::<Index>(), 0u8..8), 1..9),
        |flips| {
            let mut bytes = toc.clone();
            for (at, bit) in &flips {
                let p = at.index(bytes.len());
                bytes[p] ^= 1 << bit;
            }
            sound(directory::read_toc(&bytes))
        },
    );
    run(
        1000,
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..256),
        ),
        |(at, junk)| {
            let mut bytes = toc.clone();
            let p = at.index(bytes.len());
            let end = (p + junk.len()).min(bytes.len());
            bytes[p..end].copy_from_slice(&junk[..end - p]);
            sound(directory::read_toc(&bytes))
        },
    );
    run(
        1000,
        proptest::collection::vec(any::<u8>(), 0..512),
        |junk| {
            if let Ok(list) = directory::read_blobs_toc(&junk) {
                for (oid, file) in list {
                    prop_assert_eq!(FileKind::of(&file), Some(FileKind::Blob(oid)));
                }
            }
            Ok(())
        },
    );
}
