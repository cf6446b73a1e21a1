//! `--read-data-subset N/M`: which part of the sets a run reads in full.

/// `--read-data-subset N/M`: the sets whose id falls in the N-th of M parts (by a hash
/// of the id, so a set stays in its part run after run); a weekly job taking the week
/// number modulo M reads every set once every M weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subset {
    pub n: u32,
    pub of: u32,
}

impl Subset {
    pub fn parse(text: &str) -> Result<Subset, String> {
        let (n, of) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected N/M, e.g. 1/4"))?;
        let (n, of): (u32, u32) = (
            n.trim()
                .parse()
                .map_err(|_| format!("{text:?}: N is not a number"))?,
            of.trim()
                .parse()
                .map_err(|_| format!("{text:?}: M is not a number"))?,
        );
        if of == 0 || n == 0 || n > of {
            return Err(format!("{text:?}: N must be between 1 and M"));
        }
        Ok(Subset { n, of })
    }

    pub fn contains(&self, id: &str) -> bool {
        use sha2::Digest;
        let h = sha2::Sha256::digest(id.as_bytes());
        let v = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        v % self.of == self.n - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_partition_the_sets() {
        assert!(Subset::parse("0/4").is_err() && Subset::parse("5/4").is_err());
        assert!(Subset::parse("x").is_err() && Subset::parse("1/0").is_err());
        let parts: Vec<Subset> = (1..=4)
            .map(|n| Subset::parse(&format!("{n}/4")).unwrap())
            .collect();
        for i in 0..200 {
            let id = format!("2026{:04}T000000Z", i);
            assert_eq!(parts.iter().filter(|p| p.contains(&id)).count(), 1, "{id}");
        }
        // Every part gets some of 200 sets.
        assert!(parts
            .iter()
            .all(|p| (0..200).any(|i| p.contains(&format!("2026{:04}T000000Z", i)))));
    }
}
