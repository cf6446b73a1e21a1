//! Which databases a run backs up: the named or listed ones, minus `--exclude-database`
//! patterns (pg_dumpall's syntax: `*` any run of characters, `?` one character).

use ops_core::OpsError;

#[derive(Debug, Clone, Default)]
pub struct Patterns(Vec<Vec<char>>);

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Patterns, OpsError> {
        if patterns.iter().any(|p| p.is_empty()) {
            return Err(OpsError::validation(
                "invalid_pattern",
                "--exclude-database needs a pattern",
            ));
        }
        Ok(Patterns(
            patterns.iter().map(|p| p.chars().collect()).collect(),
        ))
    }

    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.0.iter().any(|p| glob(p, &name))
    }
}

fn glob(p: &[char], s: &[char]) -> bool {
    // Iterative wildcard match with backtracking to the last `*`: linear in practice.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The databases to back up, in order, without duplicates or excluded names.
pub fn select(databases: Vec<String>, exclude: &Patterns) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    databases
        .into_iter()
        .filter(|d| !exclude.matches(d) && seen.insert(d.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Patterns::new(&["test_*".into(), "tmp?".into()]).unwrap();
        assert!(p.matches("test_a"));
        assert!(p.matches("test_"));
        assert!(p.matches("tmp1"));
        assert!(!p.matches("tmp12"));
        assert!(!p.matches("prod"));
        assert_eq!(
            select(
                vec!["a".into(), "test_x".into(), "a".into(), "b".into()],
                &p
            ),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}
