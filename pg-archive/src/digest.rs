//! An order-independent digest of a table's rows (ADR 0026): the rows of a table as COPY
//! writes them, one line each, form a multiset; its digest is the sum, modulo 2^128, of each
//! row's XXH3-128. A sum, not an XOR: two equal rows must not cancel out (a table of two
//! identical rows is not an empty table). Row order does not matter, so the digest of the
//! dump stream and of `COPY … TO STDOUT` from the restored table agree whatever order the
//! server returns the rows in. Pure: no I/O.
//!
//! XXH3, not SHA-256: the digest proves that a restore gave back the values it was given
//! (an encoding, a setting, a type's text form, a changed row), not that nobody forged
//! them: the stored file's SHA-256 and the signed manifest do that. SHA-256 per row cost
//! the dump a fifth of its time on this 2-core machine; XXH3 costs it nothing measurable
//! (ADR 0026, `scripts/bench` with `PGOPS_BENCH_ONLY=values`).

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// The multiset digest of the rows seen so far, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultisetDigest {
    sum: u128,
    rows: u64,
}

impl MultisetDigest {
    /// Adds one row (its bytes as COPY writes them, without the newline).
    pub fn add_row(&mut self, row: &[u8]) {
        self.add_hash(xxh3_128(row));
    }

    /// Adds a row by its hash.
    pub fn add_hash(&mut self, h: u128) {
        self.sum = self.sum.wrapping_add(h);
        self.rows += 1;
    }

    /// The digest of both multisets together (parts of one table read apart).
    pub fn merge(&mut self, other: &MultisetDigest) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.rows += other.rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `xxh3-128-sum:<32 hex digits>`, the form a manifest records.
    pub fn text(&self) -> String {
        format!("{PREFIX}{:032x}", self.sum)
    }
}

/// What a digest's text starts with: names the hash and the sum.
pub const PREFIX: &str = "xxh3-128-sum:";

/// A row that arrives in pieces (a COPY stream read in buffers): hashed as it comes, with
/// no copy of the row kept.
#[derive(Clone, Default)]
pub struct RowHasher {
    hasher: Xxh3,
}

impl std::fmt::Debug for RowHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowHasher")
    }
}

impl RowHasher {
    pub fn update(&mut self, part: &[u8]) {
        self.hasher.update(part);
    }

    /// Ends the row: adds it to `into` and starts the next.
    pub fn finish_into(&mut self, into: &mut MultisetDigest) {
        into.add_hash(self.hasher.digest128());
        self.hasher.reset();
    }

    /// Forgets what was fed (the `\.` line, which is no row).
    pub fn reset(&mut self) {
        self.hasher.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn of(rows: &[&[u8]]) -> MultisetDigest {
        let mut d = MultisetDigest::default();
        rows.iter().for_each(|r| d.add_row(r));
        d
    }

    #[test]
    fn equal_rows_do_not_cancel_and_order_does_not_matter() {
        let a: &[u8] = b"1\tx";
        let b: &[u8] = b"2\t\\N";
        assert_ne!(of(&[a, a]), of(&[]), "two equal rows are not no rows");
        assert_ne!(of(&[a, a]).text(), of(&[]).text());
        assert_eq!(of(&[a, b, a]), of(&[a, a, b]));
        assert_ne!(of(&[a, b]), of(&[a, a]));
        assert!(of(&[a]).text().starts_with(PREFIX) && of(&[a]).text().len() == PREFIX.len() + 32);
        // One changed value, the count the same: another digest.
        assert_ne!(of(&[a, b]).text(), of(&[a, b"2\t"]).text());
    }

    #[test]
    fn the_sum_wraps_modulo_2_128() {
        let mut d = MultisetDigest::default();
        d.add_hash(u128::MAX);
        d.add_hash(1);
        // (2^128 − 1) + 1 ≡ 0.
        assert_eq!(d.text(), format!("{PREFIX}{}", "0".repeat(32)));
        assert_eq!(d.rows(), 2);
    }

    proptest! {
        #[test]
        fn pieces_merges_and_permutations_agree(
            rows in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
            cut in 0usize..40,
            split in 0usize..30,
        ) {
            let whole = {
                let mut d = MultisetDigest::default();
                rows.iter().for_each(|r| d.add_row(r));
                d
            };
            // Each row fed in two pieces.
            let mut pieces = MultisetDigest::default();
            let mut h = RowHasher::default();
            for r in &rows {
                let c = cut.min(r.len());
                h.update(&r[..c]);
                h.update(&r[c..]);
                h.finish_into(&mut pieces);
            }
            prop_assert_eq!(pieces, whole);
            // Two parts merged, and the rows reversed.
            let s = split.min(rows.len());
            let mut left = MultisetDigest::default();
            rows[..s].iter().for_each(|r| left.add_row(r));
            let mut right = MultisetDigest::default();
            rows[s..].iter().rev().for_each(|r| right.add_row(r));
            left.merge(&right);
            prop_assert_eq!(left, whole);
        }
    }
}
