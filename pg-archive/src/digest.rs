//! An order-independent digest of a table's rows (issue #26, groundwork): the rows of a
//! table as COPY writes them, one line each, form a multiset; its digest is the sum,
//! modulo 2^256, of each row's SHA-256. A sum, not an XOR: two equal rows must not cancel
//! out (a table of two identical rows is not an empty table). Row order does not matter,
//! so the digest of the dump stream and of `COPY … TO STDOUT` from the restored table
//! agree whatever order the server returns the rows in. Pure: no I/O.

use sha2::{Digest, Sha256};

/// The multiset digest of the rows seen so far, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultisetDigest {
    /// Little-endian 64-bit limbs of the 256-bit sum.
    sum: [u64; 4],
    rows: u64,
}

impl MultisetDigest {
    /// Adds one row (its bytes as COPY writes them, without the newline).
    pub fn add_row(&mut self, row: &[u8]) {
        self.add_hash(&Sha256::digest(row).into());
    }

    /// Adds a row by its SHA-256.
    pub fn add_hash(&mut self, h: &[u8; 32]) {
        // The hash read big-endian as a 256-bit number: limb 0 is its last 8 bytes.
        let limb = |i: usize| {
            let start = 32 - 8 * (i + 1);
            u64::from_be_bytes(h[start..start + 8].try_into().expect("8 bytes"))
        };
        self.add(&[limb(0), limb(1), limb(2), limb(3)], 1);
    }

    /// The digest of both multisets together (parts of one table read apart).
    pub fn merge(&mut self, other: &MultisetDigest) {
        self.add(&other.sum, other.rows);
    }

    /// Adds a 256-bit number (little-endian limbs), modulo 2^256, for `rows` rows.
    fn add(&mut self, v: &[u64; 4], rows: u64) {
        let mut carry = 0u64;
        for (limb, v) in self.sum.iter_mut().zip(v) {
            let (s1, o1) = limb.overflowing_add(*v);
            let (s2, o2) = s1.overflowing_add(carry);
            *limb = s2;
            carry = u64::from(o1) + u64::from(o2);
        }
        self.rows += rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `sha256-sum:<64 hex digits>`, the form a manifest records.
    pub fn text(&self) -> String {
        let hex: String = self.sum.iter().rev().map(|l| format!("{l:016x}")).collect();
        format!("sha256-sum:{hex}")
    }
}

/// A row that arrives in pieces (a COPY stream read in buffers): hashed as it comes, with
/// no copy of the row kept.
#[derive(Debug, Clone, Default)]
pub struct RowHasher {
    hasher: Sha256,
}

impl RowHasher {
    pub fn update(&mut self, part: &[u8]) {
        self.hasher.update(part);
    }

    /// Ends the row: adds it to `into` and starts the next.
    pub fn finish_into(&mut self, into: &mut MultisetDigest) {
        let h = std::mem::take(&mut self.hasher).finalize();
        into.add_hash(&h.into());
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
        assert!(of(&[a]).text().starts_with("sha256-sum:") && of(&[a]).text().len() == 11 + 64);
        // One changed value, the count the same: another digest.
        assert_ne!(of(&[a, b]).text(), of(&[a, b"2\t"]).text());
    }

    #[test]
    fn the_sum_carries_across_limbs() {
        let mut d = MultisetDigest::default();
        let ones = [0xffu8; 32];
        d.add_hash(&ones);
        let mut one = [0u8; 32];
        one[31] = 1;
        d.add_hash(&one);
        // (2^256 − 1) + 1 ≡ 0.
        assert_eq!(d.text(), format!("sha256-sum:{}", "0".repeat(64)));
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
