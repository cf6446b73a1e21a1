//! zstd as independent frames, so that both ends of a set use every core (ADR 0010).
//!
//! pgdump-run cuts pg_dump's stream into frames of [`FRAME_RAW`] bytes and compresses them
//! side by side ([`compress_frame`]); each frame carries its content size and a content
//! checksum. backup-verify (and anything else that reads a set) cuts the stored bytes back
//! into frames ([`Splitter`]) and decodes them side by side ([`decode_frame`]), in order.
//! A frame is still a standard zstd frame: `zstd -d`, `zstd -t` and every other decoder read
//! the file as before.

use std::io;
use zstd::zstd_safe;

/// Raw bytes per frame: big enough that per-frame costs (a header, a fresh window) vanish,
/// small enough that a few frames in flight per core keep memory flat.
pub const FRAME_RAW: usize = 4 << 20;

/// zstd's frame magic, little-endian.
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A compressor for frames: one per worker (it keeps its context).
pub fn compressor(level: i32) -> io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(level)?;
    c.set_parameter(zstd_safe::CParameter::ChecksumFlag(true))?;
    c.set_parameter(zstd_safe::CParameter::ContentSizeFlag(true))?;
    Ok(c)
}

/// One frame of `raw` (at most [`FRAME_RAW`] bytes), with content size and checksum.
pub fn compress_frame(c: &mut zstd::bulk::Compressor<'static>, raw: &[u8]) -> io::Result<Vec<u8>> {
    c.compress(raw)
}

/// Whether a frame header announces a content checksum (Frame_Header_Descriptor bit 2).
pub fn has_checksum(frame: &[u8]) -> bool {
    frame.len() > 4 && frame[..4] == MAGIC && frame[4] & 0b100 != 0
}

/// Decodes one whole frame of a framed file: it must carry a checksum (which zstd then
/// checks) and a content size of at most `max_raw` (so a damaged header cannot make this
/// allocate more).
pub fn decode_frame(
    d: &mut zstd::bulk::Decompressor<'static>,
    frame: &[u8],
    max_raw: usize,
) -> Result<Vec<u8>, String> {
    if !has_checksum(frame) {
        return Err("a zstd frame carries no content checksum".into());
    }
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= max_raw as u64 => n as usize,
        Ok(Some(n)) => {
            return Err(format!(
                "a zstd frame claims {n} bytes, more than the set's frames hold ({max_raw})"
            ))
        }
        Ok(None) | Err(_) => return Err("a zstd frame does not state its content size".into()),
    };
    let raw = d
        .decompress(frame, size)
        .map_err(|e| format!("zstd: {e}"))?;
    if raw.len() != size {
        return Err(format!(
            "a zstd frame decodes to {} bytes, its header says {size}",
            raw.len()
        ));
    }
    Ok(raw)
}

/// Cuts a stream of stored bytes into whole frames, holding at most one frame's worth.
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    /// The largest a frame of `max_raw` bytes can be once compressed.
    max_stored: usize,
}

impl Splitter {
    pub fn new(max_raw: usize) -> Splitter {
        Splitter {
            buf: Vec::new(),
            max_stored: zstd_safe::compress_bound(max_raw),
        }
    }

    /// Takes the next bytes; every frame they complete goes to `frame`.
    pub fn push(&mut self, bytes: &[u8], frame: &mut dyn FnMut(Vec<u8>)) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        loop {
            match zstd_safe::find_frame_compressed_size(&self.buf) {
                Ok(n) if n <= self.buf.len() => {
                    let rest = self.buf.split_off(n);
                    frame(std::mem::replace(&mut self.buf, rest));
                }
                // Not complete yet (or damaged: the whole stream is then judged at the end).
                _ => break,
            }
        }
        if self.buf.len() > self.max_stored {
            return Err(format!(
                "no zstd frame ends within {} bytes: not a frame of this set's size",
                self.max_stored
            ));
        }
        Ok(())
    }

    /// Ends the stream: bytes left over are a frame cut short (or not a frame).
    pub fn finish(self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "zstd: the last {} bytes are not a whole frame (cut short or damaged)",
                self.buf.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(raw: &[u8]) -> Vec<u8> {
        let mut c = compressor(1).unwrap();
        raw.chunks(FRAME_RAW)
            .flat_map(|f| compress_frame(&mut c, f).unwrap())
            .collect()
    }

    fn split(stored: &[u8], step: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut s = Splitter::new(FRAME_RAW);
        let mut frames = Vec::new();
        for part in stored.chunks(step) {
            s.push(part, &mut |f| frames.push(f))?;
        }
        s.finish()?;
        Ok(frames)
    }

    #[test]
    fn frames_round_trip_through_any_chunking_and_plain_zstd() {
        let raw: Vec<u8> = (0..(FRAME_RAW * 2 + 12345))
            .map(|i| (i % 251) as u8 ^ (i / 7000) as u8)
            .collect();
        let stored = framed(&raw);
        // Any zstd decoder reads the frames as one stream.
        assert_eq!(zstd::decode_all(&stored[..]).unwrap(), raw);
        for step in [1 << 20, 777_777, stored.len()] {
            let frames = split(&stored, step).unwrap();
            assert_eq!(frames.len(), 3);
            let mut d = zstd::bulk::Decompressor::new().unwrap();
            let back: Vec<u8> = frames
                .iter()
                .flat_map(|f| decode_frame(&mut d, f, FRAME_RAW).unwrap())
                .collect();
            assert_eq!(back, raw);
        }
    }

    #[test]
    fn damage_is_an_error() {
        let raw = vec![7u8; 100_000];
        let stored = framed(&raw);
        assert!(
            split(&stored[..stored.len() - 1], 4096).is_err(),
            "cut short"
        );
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        // A frame without checksum or size, as a streaming encoder writes by default.
        let plain = zstd::encode_all(&raw[..], 1).unwrap();
        assert!(decode_frame(&mut d, &plain, FRAME_RAW).is_err());
        // A flipped content byte: the checksum catches it.
        let mut bad = stored.clone();
        let at = bad.len() - 6;
        bad[at] ^= 0x10;
        let frames = split(&bad, 4096);
        assert!(frames.map_or(true, |f| f
            .iter()
            .any(|f| decode_frame(&mut d, f, FRAME_RAW).is_err())));
        // A frame bigger than the set's frame size is refused before decoding.
        assert!(decode_frame(&mut d, &stored, 1000).is_err());
    }
}
