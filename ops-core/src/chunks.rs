//! Reading streams in fixed-size chunks, as the one-pass pipelines of the tools do.

use std::io::{self, Read};

/// The chunk size of every pipeline: large enough that per-chunk costs vanish, small enough
/// that a few in flight keep memory flat.
pub const CHUNK: usize = 1 << 20;

/// Fills `buf` as far as the source allows (pipes and files return short reads); 0 at EOF.
pub fn read_full(src: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
