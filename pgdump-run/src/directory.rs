//! A directory-format dump (`pg_dump -Fd -Z0 -j N`, ADR 0027) into the partial set:
//!
//! ```text
//! pg_dump workers ──write──► <partial>/3342.dat (raw) ──close──► inotify
//!                                                                   │ the name, queued
//!                                                                   ▼
//!                  packer: the catalog's writer (zstd frames on every core, SHA-256 of
//!                          what it stores) ─► 3342.dat.zst, while pg-archive reads the
//!                          rows (count, digest) ─► the raw file removed
//! pg_dump exits (its stdout ends) ─► what is left (toc.dat, the large objects' lists, any
//!                          close not seen) packed the same way ─► the TOC says what every
//!                          file is; the summary needs each file it names and no other
//! ```
//! Each table's file is read once, from the page cache, right after pg_dump closed it, so
//! compression runs beside the dump as it does for a single stream; the raw file lives
//! only until it is packed. Correctness never depends on inotify: the last sweep packs
//! whatever was not seen.

use crate::archive::Written;
use ops_catalog::catalog::Compression;
use ops_catalog::codec::{self, StreamError};
use ops_core::atomic;
use pg_archive::directory::{self, DataFile, FileKind, FileRead};
use pg_archive::ArchiveError;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

/// One file packed: its stored name, how it was stored, what it held.
struct Packed {
    raw_name: String,
    stored_name: String,
    stored: codec::Written,
    read: Option<FileRead>,
    /// `toc.dat`'s raw bytes (small): read at the end.
    toc: Option<Vec<u8>>,
}

/// Compresses `dir/raw_name` into `dir/raw_name<ext>` (private, fsynced) while pg-archive
/// reads it, then removes the raw file.
fn pack(
    dir: &Path,
    raw_name: &str,
    compression: Compression,
    reuse: &mut codec::Reuse,
) -> Result<Packed, StreamError<ArchiveError>> {
    let stored_name = format!("{raw_name}{}", compression.extension());
    let stored_path = dir.join(&stored_name);
    let mut raw_path = dir.join(raw_name);
    if stored_name == raw_name {
        // Stored as it is (`--compress none`): moved aside, then written through the
        // same writer, so that it is hashed, fsynced and private like any other.
        let aside = dir.join(format!(".raw-{raw_name}"));
        std::fs::rename(&raw_path, &aside).map_err(StreamError::Write)?;
        raw_path = aside;
    }
    let mut src = std::fs::File::open(&raw_path).map_err(StreamError::Read)?;
    let size = src.metadata().map_err(StreamError::Read)?.len();
    let out = atomic::create_private_file(&stored_path).map_err(StreamError::Write)?;
    let mut reader = DataFile::for_name(raw_name, true);
    let mut toc = (raw_name == directory::TOC_FILE).then(Vec::new);
    let mut observe = |b: &[u8]| {
        if let Some(t) = toc.as_mut() {
            t.extend_from_slice(b);
        }
        match reader.as_mut() {
            Some(r) => r.feed(b),
            None => Ok(()),
        }
    };
    let stored = if size <= codec::frames::FRAME_RAW as u64 {
        // Most files of a database of many tables: read whole and stored on this thread
        // with one compressor for them all (same bytes as the streaming writer's).
        let mut raw = Vec::with_capacity(size as usize);
        src.read_to_end(&mut raw).map_err(StreamError::Read)?;
        observe(&raw).map_err(StreamError::Observed)?;
        codec::write_whole(&raw, out, compression, reuse).map_err(StreamError::Write)?
    } else {
        codec::write_stored(src, out, compression, &mut observe, &mut |_| {})?
    };
    let read = reader
        .map(|r| r.finish())
        .transpose()
        .map_err(StreamError::Observed)?;
    std::fs::remove_file(&raw_path).map_err(StreamError::Write)?;
    Ok(Packed {
        raw_name: raw_name.to_string(),
        stored_name,
        stored,
        read,
        toc,
    })
}

/// The raw files of the archive in `dir` not packed yet: the names pg_dump writes only.
fn unpacked(dir: &Path, done: &HashMap<String, Packed>) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if FileKind::of(&name).is_some() && !done.contains_key(&name) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Watches `dir` for files pg_dump closes after writing and sends their names: the data
/// of a table or a large object (the lists and `toc.dat` wait for the end). `None` when
/// the directory cannot be watched: the last sweep then packs everything.
fn watch(dir: &Path, tx: mpsc::Sender<String>) -> Option<notify::RecommendedWatcher> {
    use notify::event::{AccessKind, AccessMode, EventKind};
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if ev.kind != EventKind::Access(AccessKind::Close(AccessMode::Write)) {
            return;
        }
        for p in ev.paths {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(name) = name {
                if matches!(
                    FileKind::of(&name),
                    Some(FileKind::Data(_) | FileKind::Blob(_))
                ) {
                    let _ = tx.send(name);
                }
            }
        }
    })
    .ok()?;
    w.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
    Some(w)
}

/// Packs the directory archive pg_dump writes into `dir` while it runs; `stdout` is
/// pg_dump's (it writes nothing there: its end is the end of pg_dump and its workers).
/// `progress` gets the raw bytes packed so far. The files come back `toc.dat` first.
pub fn write_directory(
    stdout: impl Read + Send,
    dir: &Path,
    compression: Compression,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, StreamError<ArchiveError>> {
    let (tx, rx) = mpsc::channel::<String>();
    let watcher = watch(dir, tx);
    let (done_tx, done_rx) = mpsc::channel();
    let (ended, packed) = std::thread::scope(|s| {
        let ended = s.spawn(move || drain(stdout));
        // The packer: files as pg_dump closes them, one at a time (each on every core).
        let packer = s.spawn(move || {
            let mut reuse = codec::Reuse::default();
            let mut done: HashMap<String, Packed> = HashMap::new();
            for name in rx {
                if let std::collections::hash_map::Entry::Vacant(slot) = done.entry(name) {
                    let packed = pack(dir, slot.key(), compression, &mut reuse)?;
                    let _ = done_tx.send(packed.stored.raw_bytes);
                    slot.insert(packed);
                }
            }
            Ok::<_, StreamError<ArchiveError>>(done)
        });
        let mut raw = 0u64;
        loop {
            match done_rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok(n) => {
                    raw += n;
                    progress(raw);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !ended.is_finished() => {}
                // pg_dump has ended (or the packer has stopped): wait for it.
                Err(_) => break,
            }
        }
        let ended = ended
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("panicked")));
        // No more closes to wait for: the watcher's end ends the packer's queue.
        drop(watcher);
        let packed = packer
            .join()
            .unwrap_or_else(|_| Err(StreamError::Read(io::Error::other("the packer panicked"))));
        (ended, packed)
    });
    ended.map_err(StreamError::Read)?;
    let mut done = packed?;
    let mut reuse = codec::Reuse::default();
    for name in unpacked(dir, &done).map_err(StreamError::Read)? {
        let packed = pack(dir, &name, compression, &mut reuse)?;
        done.insert(name, packed);
    }
    assemble(done, progress)
}

/// Reads `stdout` to its end.
fn drain(mut stdout: impl Read) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    loop {
        match stdout.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The archive from its packed files: the TOC read, every file checked against it.
fn assemble(
    mut done: HashMap<String, Packed>,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, StreamError<ArchiveError>> {
    let toc = done
        .remove(directory::TOC_FILE)
        .ok_or_else(|| StreamError::Observed(ArchiveError::Truncated("no toc.dat".into())))?;
    let toc_read = directory::read_toc(toc.toc.as_deref().unwrap_or_default())
        .map_err(StreamError::Observed)?;
    let raw_bytes: u64 =
        toc.stored.raw_bytes + done.values().map(|p| p.stored.raw_bytes).sum::<u64>();
    progress(raw_bytes);
    let reads: HashMap<String, FileRead> = done
        .iter()
        .filter_map(|(name, p)| p.read.clone().map(|r| (name.clone(), r)))
        .collect();
    let summary =
        directory::summarize(toc_read, &reads, raw_bytes).map_err(StreamError::Observed)?;
    let mut rest: Vec<Packed> = done.into_values().collect();
    rest.sort_by(|a, b| a.raw_name.cmp(&b.raw_name));
    let files = std::iter::once(toc)
        .chain(rest)
        .map(|p| (p.stored_name, p.stored))
        .collect();
    Ok(Written { files, summary })
}
