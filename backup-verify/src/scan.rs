//! One read of a stored file: hash the stored bytes, decompress, hash the raw bytes and
//! parse the archive, all in the same pass.
//!
//! ```text
//! file ──read──► [this thread] sha256(stored) + decompress
//!                      │ raw chunks, bounded channel
//!                      ▼
//!                [parser thread] sha256(raw) + pg-archive
//! ```
//! A decode error does not stop the read: the checksum still covers every byte.

use ops_core::catalog::Algorithm;
use pg_archive::{ArchiveError, Reader, Summary};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;

const CHUNK: usize = 1 << 20;

/// What one pass over a file found.
#[derive(Debug)]
pub struct Scan {
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// Raw size and SHA-256, or why the file could not be decompressed to its end.
    pub decode: Result<(u64, String), String>,
    pub structure: Result<Summary, ArchiveError>,
}

/// Push-style decompression: compressed chunks in, raw chunks out through `emit`.
enum Decoder {
    Zstd {
        ctx: Box<zstd::stream::raw::Decoder<'static>>,
        buf: Vec<u8>,
        /// zstd's hint after the last call: 0 when a frame has just ended.
        hint: usize,
        seen: bool,
    },
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    None,
}

impl Decoder {
    fn new(algorithm: Algorithm) -> io::Result<Decoder> {
        Ok(match algorithm {
            Algorithm::Zstd => Decoder::Zstd {
                ctx: Box::new(zstd::stream::raw::Decoder::new()?),
                buf: vec![0; CHUNK],
                hint: 1,
                seen: false,
            },
            Algorithm::Gzip => Decoder::Gzip(flate2::write::MultiGzDecoder::new(
                Vec::with_capacity(CHUNK),
            )),
            Algorithm::None => Decoder::None,
        })
    }

    fn push(&mut self, chunk: &[u8], emit: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        match self {
            Decoder::Zstd {
                ctx,
                buf,
                hint,
                seen,
            } => {
                use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
                *seen |= !chunk.is_empty();
                let mut input = InBuffer::around(chunk);
                loop {
                    let mut out = OutBuffer::around(&mut buf[..]);
                    *hint = ctx
                        .run(&mut input, &mut out)
                        .map_err(|e| format!("zstd: {e}"))?;
                    let made = out.pos();
                    emit(&buf[..made]);
                    if input.pos() == chunk.len() && made < buf.len() {
                        return Ok(());
                    }
                }
            }
            Decoder::Gzip(d) => {
                d.write_all(chunk).map_err(|e| format!("gzip: {e}"))?;
                let raw = d.get_mut();
                emit(raw);
                raw.clear();
                Ok(())
            }
            Decoder::None => {
                emit(chunk);
                Ok(())
            }
        }
    }

    fn finish(self, emit: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        match self {
            Decoder::Zstd { hint, seen, .. } => match (seen, hint) {
                (false, _) => Err("zstd: empty file".into()),
                (true, 0) => Ok(()),
                _ => Err("zstd: the last frame is cut short".into()),
            },
            Decoder::Gzip(mut d) => {
                d.try_finish().map_err(|e| format!("gzip: {e}"))?;
                let raw = d.finish().map_err(|e| format!("gzip: {e}"))?;
                emit(&raw);
                Ok(())
            }
            Decoder::None => Ok(()),
        }
    }
}

/// Reads `path` once. `Err` only when the file cannot be opened or read at all.
pub fn scan_file(path: &Path, algorithm: Algorithm) -> io::Result<Scan> {
    let mut file = File::open(path)?;
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
    // For uncompressed files raw and stored bytes are the same: hash them once.
    let hash_raw = algorithm != Algorithm::None;
    let parser = std::thread::Builder::new()
        .name("verify-parser".into())
        .spawn(move || {
            let mut hash = Sha256::new();
            let mut bytes = 0u64;
            let mut reader = Reader::new();
            let mut failed: Option<ArchiveError> = None;
            for chunk in rx {
                if hash_raw {
                    hash.update(&chunk);
                }
                bytes += chunk.len() as u64;
                if failed.is_none() {
                    failed = reader.feed(&chunk).err();
                }
            }
            let structure = match failed {
                Some(e) => Err(e),
                None => reader.finish(),
            };
            (bytes, hex::encode(hash.finalize()), structure)
        })?;

    let mut stored = Sha256::new();
    let mut stored_bytes = 0u64;
    let mut decoder = Some(Decoder::new(algorithm)?);
    let mut decode_error: Option<String> = None;
    let mut emit = |raw: &[u8]| {
        if !raw.is_empty() {
            let _ = tx.send(raw.to_vec());
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let read_result = loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        stored.update(&buf[..n]);
        stored_bytes += n as u64;
        if let Some(d) = decoder.as_mut() {
            if let Err(e) = d.push(&buf[..n], &mut emit) {
                decode_error = Some(e);
                decoder = None;
            }
        }
    };
    if let Some(d) = decoder.take() {
        if let Err(e) = d.finish(&mut emit) {
            decode_error = Some(e);
        }
    }
    drop(tx);
    let (raw_bytes, raw_sha, structure) = parser
        .join()
        .map_err(|_| io::Error::other("parser thread panicked"))?;
    read_result?;
    let stored_sha256 = hex::encode(stored.finalize());
    let raw_sha = if hash_raw {
        raw_sha
    } else {
        stored_sha256.clone()
    };
    Ok(Scan {
        stored_bytes,
        stored_sha256,
        decode: match decode_error {
            Some(e) => Err(e),
            None => Ok((raw_bytes, raw_sha)),
        },
        structure,
    })
}
