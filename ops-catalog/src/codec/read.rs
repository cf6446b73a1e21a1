//! One read of a stored file: hash the stored bytes, decompress them and hand them to an
//! observer (backup-verify's archive parser), all in the same pass.
//!
//! Framed zstd files (ADR 0010, the manifest gives `frame_raw_bytes`):
//! ```text
//! file ──read──► [this thread] sha256(stored), cut into frames
//!                      │
//!                      ▼ [one worker per core] decode a frame each, checksums checked
//!                      │ in order, bounded
//!                      ▼
//!                [observer thread] observe [+ sha256(raw), old sets]
//! ```
//! Other files (gzip, none, zstd written as one stream):
//! ```text
//! file ──read──► [this thread] decompress          (the critical path)
//!                      │ stored + raw chunks
//!                      ▼ bounded channel
//!                [hasher thread] sha256(stored) + observe [+ sha256(raw), old sets]
//! ```
//! The raw bytes are not hashed again (ADR 0008): the stored SHA-256 proves the file is
//! what was written, and the codec's own checksum of the content (zstd's per frame, gzip's
//! CRC-32), checked while decoding, proves it decodes to what the compressor was given.
//! Sets written before that carry a raw SHA-256, which is still checked for them.
//! Buffers travel back through a second channel, so the pass allocates a few MiB once.
//! A decode error does not stop the read: the checksum still covers every byte.

use super::frames;
use crate::catalog::Algorithm;
use ops_core::parallel::{self, Ordered};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

use ops_core::chunks::CHUNK;

/// What one pass over a file found.
#[derive(Debug)]
pub struct Scan {
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// What decoding found, or why the file could not be decompressed to its end.
    pub decode: Result<Decoded, String>,
}

/// A file decompressed to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub raw_bytes: u64,
    /// The SHA-256 of the raw bytes, when asked for (sets that record one).
    pub raw_sha256: Option<String>,
    /// Every part was covered by a content checksum the decoder verified (zstd frames with
    /// the checksum flag, gzip members); an uncompressed file needs none.
    pub content_checked: bool,
}

/// zstd's frame magic, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Reads the first bytes of each zstd frame: whether it carries a content checksum.
#[derive(Debug, Default)]
struct FrameHeads {
    /// The first bytes of the current frame, while fewer than five are known.
    head: Option<Vec<u8>>,
    frames: u64,
    unchecked: u64,
}

impl FrameHeads {
    /// A frame starts at `bytes[0]`.
    fn start(&mut self, bytes: &[u8]) {
        self.head = Some(Vec::with_capacity(5));
        self.more(bytes);
    }

    /// More bytes of the current frame's start, if it is still being read.
    fn more(&mut self, bytes: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            return;
        };
        let need = (5 - head.len()).min(bytes.len());
        head.extend_from_slice(&bytes[..need]);
        if head.len() == 5 {
            self.frames += 1;
            // Frame_Header_Descriptor bit 2: Content_Checksum_flag.
            if head[..4] != ZSTD_MAGIC || head[4] & 0b100 == 0 {
                self.unchecked += 1;
            }
            self.head = None;
        }
    }

    fn all_checked(&self) -> bool {
        self.frames > 0 && self.unchecked == 0
    }
}

/// What travels from the reading thread to the hashing thread.
enum Chunk {
    /// Bytes as stored.
    Stored(Vec<u8>),
    /// Decompressed bytes.
    Raw(Vec<u8>),
    /// Uncompressed files: stored and raw at once, hashed once.
    Both(Vec<u8>),
}

/// Hands out 1 MiB buffers, reusing those the hashing thread sent back.
struct Pool(mpsc::Receiver<Vec<u8>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let mut b = self.0.try_recv().unwrap_or_default();
        b.clear();
        b.resize(CHUNK, 0);
        b
    }
}

/// Push-style decompression: compressed chunks in, full raw buffers out through `emit`.
enum Decoder {
    Zstd {
        ctx: Box<zstd::stream::raw::Decoder<'static>>,
        out: Vec<u8>,
        filled: usize,
        /// zstd's hint after the last call: 0 when a frame has just ended.
        hint: usize,
        seen: bool,
        frames: FrameHeads,
    },
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
}

impl Decoder {
    fn new(algorithm: Algorithm, pool: &Pool) -> io::Result<Option<Decoder>> {
        Ok(match algorithm {
            Algorithm::Zstd => Some(Decoder::Zstd {
                ctx: Box::new(zstd::stream::raw::Decoder::new()?),
                out: pool.take(),
                filled: 0,
                hint: 1,
                seen: false,
                frames: FrameHeads {
                    head: Some(Vec::with_capacity(5)),
                    ..FrameHeads::default()
                },
            }),
            Algorithm::Gzip => Some(Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(
                Vec::with_capacity(CHUNK),
            )))),
            Algorithm::None => None,
        })
    }

    fn push(
        &mut self,
        chunk: &[u8],
        pool: &Pool,
        emit: &mut dyn FnMut(Vec<u8>),
    ) -> Result<(), String> {
        match self {
            Decoder::Zstd {
                ctx,
                out,
                filled,
                hint,
                seen,
                frames,
            } => {
                use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
                *seen |= !chunk.is_empty();
                frames.more(chunk);
                let mut input = InBuffer::around(chunk);
                loop {
                    let mut o = OutBuffer::around_pos(&mut out[..], *filled);
                    *hint = ctx
                        .run(&mut input, &mut o)
                        .map_err(|e| format!("zstd: {e}"))?;
                    *filled = o.pos();
                    if *hint == 0 {
                        // A frame ended; zstd starts the next one at the next byte.
                        frames.start(&chunk[input.pos()..]);
                    }
                    let full = *filled == out.len();
                    if full {
                        emit(std::mem::replace(out, pool.take()));
                        *filled = 0;
                    }
                    if input.pos() == chunk.len() && !full {
                        return Ok(());
                    }
                }
            }
            Decoder::Gzip(d) => {
                d.write_all(chunk).map_err(|e| format!("gzip: {e}"))?;
                if d.get_ref().len() >= CHUNK {
                    emit(std::mem::take(d.get_mut()));
                }
                Ok(())
            }
        }
    }

    /// Ends the stream. `Ok(true)` when every frame carried a content checksum (which
    /// the decoder verified).
    fn finish(self, emit: &mut dyn FnMut(Vec<u8>)) -> Result<bool, String> {
        match self {
            Decoder::Zstd {
                mut out,
                filled,
                hint,
                seen,
                frames,
                ..
            } => {
                out.truncate(filled);
                emit(out);
                match (seen, hint) {
                    (false, _) => Err("zstd: empty file".into()),
                    (true, 0) => Ok(frames.all_checked()),
                    _ => Err("zstd: the last frame is cut short".into()),
                }
            }
            Decoder::Gzip(mut d) => {
                // flate2 checks each member's CRC-32 and size.
                d.try_finish().map_err(|e| format!("gzip: {e}"))?;
                let raw = d.finish().map_err(|e| format!("gzip: {e}"))?;
                emit(raw);
                Ok(true)
            }
        }
    }
}

/// How to read one stored file, from its manifest entry.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub algorithm: Algorithm,
    /// zstd frames of at most this many raw bytes each, decodable in parallel.
    pub frame_raw: Option<usize>,
    /// Hash the raw bytes too (sets that record their SHA-256).
    pub raw_sha256: bool,
}

/// What reads the raw bytes as they are decoded, in order (pg-archive, in backup-verify).
/// It is not given anything after a part that did not decode.
pub type Observer<'a> = &'a mut (dyn FnMut(&[u8]) + Send);

/// Reads `path` once, handing the decoded bytes to `observe`. `Err` only when the file
/// cannot be opened or read at all.
pub fn scan_file(path: &Path, layout: Layout, observe: Observer) -> io::Result<Scan> {
    match (layout.algorithm, layout.frame_raw) {
        (Algorithm::Zstd, Some(max_raw)) => scan_framed(path, max_raw, layout.raw_sha256, observe),
        _ => scan_stream(path, layout.algorithm, layout.raw_sha256, observe),
    }
}

/// What the observing thread counted of the decoded bytes.
struct Parsed {
    raw_bytes: u64,
    raw_sha256: Option<String>,
    decode_error: Option<String>,
}

/// A framed zstd file: frames decoded on every core, observed in order.
fn scan_framed(
    path: &Path,
    max_raw: usize,
    raw_sha256: bool,
    observe: Observer,
) -> io::Result<Scan> {
    type FrameResult = Result<Vec<u8>, String>;
    let mut file = File::open(path)?;
    let workers = parallel::cores();
    let pool: Ordered<Vec<u8>, FrameResult> = Ordered::new(
        workers,
        workers,
        zstd::bulk::Decompressor::new,
        move |d: &mut io::Result<zstd::bulk::Decompressor<'static>>, frame: Vec<u8>| match d {
            Ok(d) => frames::decode_frame(d, &frame, max_raw),
            Err(e) => Err(format!("zstd: {e}")),
        },
    );
    let (tx, rx) = mpsc::sync_channel::<mpsc::Receiver<FrameResult>>(2 * workers + 2);
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut raw = raw_sha256.then(Sha256::new);
            let mut raw_bytes = 0u64;
            let mut decode_error: Option<String> = None;
            for result in rx {
                let frame = result
                    .recv()
                    .unwrap_or_else(|_| Err("a decoding worker stopped".into()));
                // After a frame that does not decode, the rest cannot be read in place.
                match (frame, &decode_error) {
                    (Ok(bytes), None) => {
                        if let Some(h) = raw.as_mut() {
                            h.update(&bytes);
                        }
                        raw_bytes += bytes.len() as u64;
                        observe(&bytes);
                    }
                    (Err(e), None) => decode_error = Some(e),
                    _ => {}
                }
            }
            Parsed {
                raw_bytes,
                raw_sha256: raw.map(|h| hex::encode(h.finalize())),
                decode_error,
            }
        });

        let mut stored = Sha256::new();
        let mut stored_bytes = 0u64;
        let mut splitter = Some(frames::Splitter::new(max_raw));
        let mut split_error: Option<String> = None;
        let mut buf = vec![0u8; CHUNK];
        let read_result = loop {
            let n = match ops_core::chunks::read_full(&mut file, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            stored.update(&buf[..n]);
            stored_bytes += n as u64;
            if let Some(s) = splitter.as_mut() {
                let pushed = s.push(&buf[..n], &mut |frame| {
                    let _ = tx.send(pool.submit(frame));
                });
                if let Err(e) = pushed {
                    split_error = Some(e);
                    splitter = None;
                }
            }
        };
        if stored_bytes == 0 {
            split_error = Some("zstd: empty file".into());
        } else if let Some(Err(e)) = splitter.map(frames::Splitter::finish) {
            split_error = Some(e);
        }
        drop(tx);
        let parsed = parser
            .join()
            .map_err(|_| io::Error::other("parser thread panicked"))?;
        read_result?;
        Ok(Scan {
            stored_bytes,
            stored_sha256: hex::encode(stored.finalize()),
            decode: match parsed.decode_error.or(split_error) {
                Some(e) => Err(e),
                None => Ok(Decoded {
                    raw_bytes: parsed.raw_bytes,
                    raw_sha256: parsed.raw_sha256,
                    content_checked: true,
                }),
            },
        })
    })
}

/// A file decoded as one stream on this thread, hashed and observed on another.
fn scan_stream(
    path: &Path,
    algorithm: Algorithm,
    raw_sha256: bool,
    observe: Observer,
) -> io::Result<Scan> {
    let mut file = File::open(path)?;
    let (tx, rx) = mpsc::sync_channel::<Chunk>(8);
    let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
    let pool = Pool(back_rx);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut stored = Sha256::new();
            let mut stored_bytes = 0u64;
            let mut raw = raw_sha256.then(Sha256::new);
            let mut raw_bytes = 0u64;
            for chunk in rx {
                let buf = match chunk {
                    Chunk::Stored(b) => {
                        stored.update(&b);
                        stored_bytes += b.len() as u64;
                        b
                    }
                    Chunk::Raw(b) => {
                        if let Some(h) = raw.as_mut() {
                            h.update(&b);
                        }
                        raw_bytes += b.len() as u64;
                        observe(&b);
                        b
                    }
                    Chunk::Both(b) => {
                        stored.update(&b);
                        stored_bytes += b.len() as u64;
                        raw_bytes += b.len() as u64;
                        observe(&b);
                        b
                    }
                };
                let _ = back_tx.send(buf);
            }
            let stored = hex::encode(stored.finalize());
            let raw = if algorithm == Algorithm::None {
                raw_sha256.then(|| stored.clone())
            } else {
                raw.map(|h| hex::encode(h.finalize()))
            };
            (stored_bytes, stored, raw_bytes, raw)
        });

        let mut decoder = Decoder::new(algorithm, &pool)?;
        let plain = decoder.is_none();
        let mut decode_error: Option<String> = None;
        let mut content_checked = plain;
        let mut emit = |raw: Vec<u8>| {
            if !raw.is_empty() {
                let _ = tx.send(Chunk::Raw(raw));
            }
        };
        let read_result = loop {
            let mut buf = pool.take();
            let n = match ops_core::chunks::read_full(&mut file, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            buf.truncate(n);
            if let Some(d) = decoder.as_mut() {
                if let Err(e) = d.push(&buf, &pool, &mut emit) {
                    decode_error = Some(e);
                    decoder = None;
                }
            }
            let chunk = if plain {
                Chunk::Both(buf)
            } else {
                Chunk::Stored(buf)
            };
            let _ = tx.send(chunk);
        };
        if let Some(d) = decoder.take() {
            match d.finish(&mut emit) {
                Ok(checked) => content_checked = checked,
                Err(e) => decode_error = Some(e),
            }
        }
        drop(tx);
        let (stored_bytes, stored_sha256, raw_bytes, raw_sha) = hasher
            .join()
            .map_err(|_| io::Error::other("hasher thread panicked"))?;
        read_result?;
        Ok(Scan {
            stored_bytes,
            stored_sha256,
            decode: match decode_error {
                Some(e) => Err(e),
                None => Ok(Decoded {
                    raw_bytes,
                    raw_sha256: raw_sha,
                    content_checked,
                }),
            },
        })
    })
}
