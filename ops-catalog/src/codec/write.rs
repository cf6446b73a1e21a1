//! Writing a stored file: one pass from a producer's stream (pg_dump's stdout) to the file.
//!
//! ```text
//!  pg_dump stdout ──read──► [this thread] observe (pgdump-run: pg-archive row count)
//!                                 │ 4 MiB frames (zstd) or 1 MiB chunks
//!                                 ▼
//!                  zstd: [one worker per core] compress a frame each, in parallel
//!                  gzip, none: passed on as they are
//!                                 │ in order, bounded (memory stays flat)
//!                                 ▼
//!                           [writer thread] (gzip) SHA-256(stored) ─► file
//! ```
//! Every byte is read once; parsing runs beside compression, and compression runs beside
//! pg_dump. zstd output is a series of independent frames (ADR 0010), each with its content
//! size and checksum, so that verify decodes on every core too. The raw bytes are not
//! hashed (ADR 0008): each buffer moves from the observer to the compressor, and zstd's
//! content checksum (or gzip's CRC-32) covers what the compressor was given, the stored
//! SHA-256 what it wrote.

use super::frames;
use crate::catalog::{Algorithm, Compression};
use ops_core::parallel::{self, Ordered};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc;

use ops_core::chunks::CHUNK;

/// What one pass produced.
#[derive(Debug)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub raw_bytes: u64,
    /// zstd: the raw size of each frame (the last may be smaller).
    pub frame_raw_bytes: Option<u64>,
}

#[derive(Debug)]
pub enum StreamError<E> {
    /// Reading the source failed.
    Read(io::Error),
    /// Writing the stored file failed (a full disk lands here).
    Write(io::Error),
    /// The observer refused the stream (pgdump-run: not a complete archive).
    Observed(E),
}

/// Counts and hashes what passes through.
struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the reader hands the writer: bytes to encode there, or a frame being compressed
/// by a worker (with its raw buffer back, for reuse).
enum Piece {
    Raw(Vec<u8>),
    Frame(mpsc::Receiver<(io::Result<Vec<u8>>, Vec<u8>)>),
}

enum Encoder<W: Write> {
    Gzip(Box<flate2::write::GzEncoder<W>>),
    /// Uncompressed, or zstd frames compressed already.
    Plain(W),
}

impl<W: Write> Encoder<W> {
    fn new(out: W, c: Compression) -> Encoder<W> {
        match c.algorithm {
            Algorithm::Gzip => Encoder::Gzip(Box::new(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(c.level.unwrap_or(Compression::DEFAULT_GZIP_LEVEL) as u32),
            ))),
            Algorithm::Zstd | Algorithm::None => Encoder::Plain(out),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Plain(w) => w.write_all(buf),
        }
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Plain(w) => Ok(w),
        }
    }
}

/// The frame compressors: one worker per core.
type Pool = Ordered<Vec<u8>, (io::Result<Vec<u8>>, Vec<u8>)>;

fn frame_pool(level: i32) -> Pool {
    let workers = parallel::cores();
    Ordered::new(
        workers,
        workers,
        move || frames::compressor(level),
        |c: &mut io::Result<zstd::bulk::Compressor<'static>>, raw: Vec<u8>| {
            let frame = match c {
                Ok(c) => frames::compress_frame(c, &raw),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            (frame, raw)
        },
    )
}

/// Streams `src` into the new file `file`, compressed, hashing what is stored. Every chunk
/// is shown to `observe` before it is compressed (an error stops the write); `progress` is
/// called with the raw byte count after each chunk. The file is fsynced.
pub fn write_stored<E>(
    mut src: impl Read,
    file: File,
    compression: Compression,
    observe: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, StreamError<E>> {
    let zstd = compression.algorithm == Algorithm::Zstd;
    let pool =
        zstd.then(|| frame_pool(compression.level.unwrap_or(Compression::DEFAULT_ZSTD_LEVEL)));
    let read_size = if zstd { frames::FRAME_RAW } else { CHUNK };
    let in_flight = 2 * parallel::cores() + 2;
    let (to_writer, from_reader) = mpsc::sync_channel::<Piece>(in_flight);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();

    let writer = std::thread::Builder::new()
        .name("archive-writer".into())
        .spawn(move || -> io::Result<(u64, String)> {
            let out = HashWriter {
                inner: BufWriter::with_capacity(CHUNK, file),
                hash: Sha256::new(),
                bytes: 0,
            };
            let mut enc = Encoder::new(out, compression);
            for piece in from_reader {
                let raw = match piece {
                    Piece::Raw(raw) => {
                        enc.write_all(&raw)?;
                        raw
                    }
                    Piece::Frame(result) => {
                        let (frame, raw) = result
                            .recv()
                            .map_err(|_| io::Error::other("a compression worker stopped"))?;
                        enc.write_all(&frame?)?;
                        raw
                    }
                };
                let _ = recycle_tx.send(raw);
            }
            let mut out = enc.finish()?;
            out.flush()?;
            let file = out.inner.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok((out.bytes, hex::encode(out.hash.finalize())))
        })
        .map_err(StreamError::Write)?;

    let mut raw_bytes = 0u64;
    let read_result: Result<(), StreamError<E>> = loop {
        let mut buf = recycle_rx
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(read_size));
        buf.resize(read_size, 0);
        let n = match ops_core::chunks::read_full(&mut src, &mut buf) {
            Ok(n) => n,
            Err(e) => break Err(StreamError::Read(e)),
        };
        if n == 0 {
            // Nothing at all (an empty large object of a directory archive): still one
            // zstd frame, so that the file is a zstd file with its checksum, not 0 bytes.
            if let (0, Some(pool)) = (raw_bytes, &pool) {
                buf.clear();
                let _ = to_writer.send(Piece::Frame(pool.submit(buf)));
            }
            break Ok(());
        }
        buf.truncate(n);
        raw_bytes += n as u64;
        if let Err(e) = observe(&buf) {
            break Err(StreamError::Observed(e));
        }
        let piece = match &pool {
            Some(pool) => Piece::Frame(pool.submit(buf)),
            None => Piece::Raw(buf),
        };
        if to_writer.send(piece).is_err() {
            break Ok(()); // the writer failed; its error is reported below
        }
        progress(raw_bytes);
    };
    drop(to_writer);
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("archive writer panicked")));
    drop(pool);
    read_result?;
    let (bytes, sha256) = written.map_err(StreamError::Write)?;
    Ok(Written {
        bytes,
        sha256,
        raw_bytes,
        frame_raw_bytes: zstd.then_some(frames::FRAME_RAW as u64),
    })
}

/// A reusable compressor for [`write_whole`]: a context made once, not per file.
#[derive(Default)]
pub struct Reuse(Option<(i32, zstd::bulk::Compressor<'static>)>);

impl std::fmt::Debug for Reuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reuse")
    }
}

/// Stores `raw` (at most one frame, [`frames::FRAME_RAW`]) into the new file `file` in the
/// same form [`write_stored`] gives it (one zstd frame with its checksum, a gzip member, or
/// the bytes), on this thread, with `reuse`'s compressor: what a directory archive's many
/// small files need, where a frame pool and a writer thread per file cost more than the
/// compression (measured: 10,000 tables, ADR 0027). The file is fsynced.
pub fn write_whole(
    raw: &[u8],
    file: File,
    compression: Compression,
    reuse: &mut Reuse,
) -> io::Result<Written> {
    assert!(
        raw.len() <= frames::FRAME_RAW,
        "write_whole takes one frame at most"
    );
    let stored = match compression.algorithm {
        Algorithm::Zstd => {
            let level = compression.level.unwrap_or(Compression::DEFAULT_ZSTD_LEVEL);
            if reuse.0.as_ref().is_none_or(|(l, _)| *l != level) {
                reuse.0 = Some((level, frames::compressor(level)?));
            }
            let (_, c) = reuse.0.as_mut().expect("made above");
            frames::compress_frame(c, raw)?
        }
        Algorithm::Gzip | Algorithm::None => {
            let mut enc = Encoder::new(Vec::with_capacity(raw.len() / 2 + 64), compression);
            enc.write_all(raw)?;
            enc.finish()?
        }
    };
    let mut out = BufWriter::new(file);
    out.write_all(&stored)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(Written {
        bytes: stored.len() as u64,
        sha256: hex::encode(Sha256::digest(&stored)),
        raw_bytes: raw.len() as u64,
        frame_raw_bytes: (compression.algorithm == Algorithm::Zstd)
            .then_some(frames::FRAME_RAW as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &[u8] = b"some bytes\n";

    fn roundtrip(c: &str) -> (Written, Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut seen = Vec::new();
        let w = write_stored::<()>(
            SQL,
            file,
            c.parse().unwrap(),
            &mut |b| {
                seen.extend_from_slice(b);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        (w, std::fs::read(&path).unwrap(), seen)
    }

    #[test]
    fn a_whole_small_file_is_stored_exactly_as_the_stream_writer_stores_it() {
        let mut reuse = Reuse::default();
        for c in ["zstd", "zstd:3", "gzip", "none"] {
            for raw in [&b""[..], SQL, &[7u8; 100_000][..]] {
                let dir = tempfile::tempdir().unwrap();
                let (a, b) = (dir.path().join("a"), dir.path().join("b"));
                let compression: Compression = c.parse().unwrap();
                let streamed = write_stored::<()>(
                    raw,
                    File::create(&a).unwrap(),
                    compression,
                    &mut |_| Ok(()),
                    &mut |_| {},
                )
                .unwrap();
                let whole =
                    write_whole(raw, File::create(&b).unwrap(), compression, &mut reuse).unwrap();
                assert_eq!(
                    std::fs::read(&a).unwrap(),
                    std::fs::read(&b).unwrap(),
                    "{c}"
                );
                assert_eq!(
                    (
                        streamed.bytes,
                        streamed.sha256,
                        streamed.raw_bytes,
                        streamed.frame_raw_bytes
                    ),
                    (
                        whole.bytes,
                        whole.sha256,
                        whole.raw_bytes,
                        whole.frame_raw_bytes
                    ),
                    "{c}"
                );
            }
        }
    }

    #[test]
    fn nothing_at_all_is_stored_as_a_file_that_decodes_to_nothing() {
        for c in ["zstd", "gzip", "none"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            let file = File::create(&path).unwrap();
            let w = write_stored::<()>(
                &b""[..],
                file,
                c.parse().unwrap(),
                &mut |_| Ok(()),
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(w.raw_bytes, 0, "{c}");
            let compression: Compression = c.parse().unwrap();
            let layout = crate::codec::read::Layout {
                algorithm: compression.algorithm,
                frame_raw: w.frame_raw_bytes.map(|n| n as usize),
                raw_sha256: false,
            };
            let scan = crate::codec::read::scan_file(&path, layout, &mut |_| {}).unwrap();
            let decoded = scan.decode.unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(decoded.raw_bytes, 0, "{c}");
            assert_eq!(scan.stored_sha256, w.sha256, "{c}");
        }
    }

    #[test]
    fn every_compression_round_trips_with_correct_hashes() {
        for c in ["zstd", "gzip", "none"] {
            let (w, stored, seen) = roundtrip(c);
            assert_eq!(seen, SQL, "the observer sees every byte");
            assert_eq!(w.raw_bytes, SQL.len() as u64);
            assert_eq!(w.bytes, stored.len() as u64);
            assert_eq!(w.sha256, hex::encode(Sha256::digest(&stored)));
            let mut plain = Vec::new();
            match c {
                "zstd" => plain = zstd::decode_all(&stored[..]).unwrap(),
                "gzip" => {
                    flate2::read::GzDecoder::new(&stored[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                _ => plain = stored.clone(),
            }
            assert_eq!(plain, SQL, "{c}");
        }
    }

    #[test]
    fn an_observer_error_stops_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let r = write_stored(
            SQL,
            file,
            "zstd".parse().unwrap(),
            &mut |_| Err("no"),
            &mut |_| {},
        );
        assert!(matches!(r, Err(StreamError::Observed("no"))));
    }
}
