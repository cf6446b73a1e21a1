//! How a set's files are encoded: the one reader and writer of stored files (hashing,
//! compression in zstd frames, gzip or none, and decompression, in one pass each way). Tools hand in what they do with the raw
//! bytes (pgdump-run and backup-verify parse them as an archive; restore-drill feeds
//! pg_restore).

pub mod frames;
mod read;
mod write;

pub use read::{scan_file, Decoded, Layout, Observer, Scan};
pub use write::{write_stored, write_whole, Reuse, StreamError, Written};

use crate::catalog::Algorithm;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// A stored file's bytes, decompressed, as one stream (restore-drill feeds pg_restore from
/// it): any zstd file (one frame or many), gzip members, or the bytes as they are.
pub fn open_decoded(path: &Path, algorithm: Algorithm) -> io::Result<Box<dyn Read + Send>> {
    let file = io::BufReader::with_capacity(ops_core::chunks::CHUNK, File::open(path)?);
    Ok(match algorithm {
        Algorithm::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
        Algorithm::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Algorithm::None => Box::new(file),
    })
}

/// The size and SHA-256 of a stored file, as its manifest records them.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut hashing = Hashing::new(&mut f);
    let mut buf = vec![0u8; ops_core::chunks::CHUNK];
    while ops_core::chunks::read_full(&mut hashing, &mut buf)? > 0 {}
    Ok(hashing.finish())
}

/// Counts and hashes what is read through it: how a store's writer knows what it stored,
/// and how a sealed object's plaintext and ciphertext are hashed as they stream (one
/// hashing reader in pgops).
#[derive(Debug)]
pub struct Hashing<R> {
    src: R,
    hash: sha2::Sha256,
    size: u64,
}

impl<R> Hashing<R> {
    pub fn new(src: R) -> Hashing<R> {
        use sha2::Digest;
        Hashing {
            src,
            hash: sha2::Sha256::new(),
            size: 0,
        }
    }

    /// What went through: its size and SHA-256 in hex.
    pub fn finish(self) -> (u64, String) {
        use sha2::Digest;
        (self.size, hex::encode(self.hash.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.src.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
