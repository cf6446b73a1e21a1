//! Scrubbing secrets from text before anyone sees it.
//!
//! Everything a child process prints (pg_dump's stderr) and every message that quotes a
//! connection string passes through a [`Redactor`] first. It removes the known secrets
//! verbatim and, whatever the secret, the password parts of URIs and conninfo strings.

/// What replaces a secret.
pub const MASK: &str = "***";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        redact_uri_passwords(&redact_conninfo_passwords(&out))
    }
}

/// Credentials inside URIs. `postgresql://user:secret@host` → `postgresql://user:***@host`
/// (a PostgreSQL user name is not a secret); in any other scheme (`s3://KEY:SECRET@bucket`,
/// `https://token@host`) the whole user part goes: access keys and tokens are secrets.
/// The user part runs to the first `@` of the word, `/` included: S3 secret keys hold
/// slashes, and masking a path that holds an `@` costs nothing.
fn redact_uri_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let scheme = head[..pos]
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
            .unwrap_or(tail.len());
        let word = &tail[..end];
        let consumed = match word.find('@') {
            Some(at) if scheme == "postgresql" || scheme == "postgres" => {
                match word[..at].find(':') {
                    Some(colon) => {
                        out.push_str(&word[..=colon]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(&word[..at]),
                }
                at
            }
            Some(at) => {
                out.push_str(MASK);
                at
            }
            None => 0,
        };
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    out
}

/// The secrets this process was given in its environment: whatever quotes them (an error
/// of a library, a child's output) never shows them.
const SECRET_VARIABLES: [&str; 3] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD"];

fn process_redactor() -> &'static Redactor {
    static R: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        Redactor::new(
            SECRET_VARIABLES
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                // A one- or two-character "secret" would mask every word it is part of.
                .filter(|s| s.len() >= 4),
        )
    })
}

/// Scrubs `text` of every secret this process knows of (its environment's) and of the
/// credentials of any URI or conninfo in it: what every event, every line on stderr and
/// every state file passes through.
pub fn scrub(text: &str) -> String {
    process_redactor().redact(text)
}

/// [`scrub`] over every string of a JSON value, keys included.
pub fn scrub_value(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(scrub(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(scrub_value).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (scrub(&k), scrub_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `password=secret` and `password='sec ret'` → `password=***`.
fn redact_conninfo_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.to_ascii_lowercase().find("password") {
        let after = &rest[pos + "password".len()..];
        let trimmed = after.trim_start();
        if let Some(value) = trimmed.strip_prefix('=') {
            out.push_str(&rest[..pos + "password".len()]);
            out.push('=');
            out.push_str(MASK);
            let value = value.trim_start();
            let consumed = if let Some(q) = value.strip_prefix('\'') {
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == '\'' {
                        end = i + 1;
                        break;
                    }
                }
                1 + end
            } else {
                value
                    .find(|c: char| c.is_whitespace())
                    .unwrap_or(value.len())
            };
            rest = &value[consumed..];
        } else {
            out.push_str(&rest[..pos + "password".len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_known_secrets_and_password_parts() {
        let r = Redactor::new(["hunter2".to_string()]);
        assert_eq!(r.redact("auth failed for hunter2"), "auth failed for ***");
        assert_eq!(
            r.redact("connecting to postgresql://bob:xyz@db:5432/app failed"),
            "connecting to postgresql://bob:***@db:5432/app failed"
        );
        assert_eq!(
            r.redact("conninfo host=x password='a b\\'c' user=y"),
            "conninfo host=x password=*** user=y"
        );
        assert_eq!(
            r.redact("password authentication failed for user"),
            "password authentication failed for user"
        );
    }

    #[test]
    fn credentials_in_any_location_are_masked() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("opening s3://AKIA1:se/cr+et@bucket/p failed"),
            "opening s3://***@bucket/p failed"
        );
        assert_eq!(
            r.redact("\"https://user:tok@minio:9000\" refused"),
            "\"https://***@minio:9000\" refused"
        );
        assert_eq!(r.redact("https://tok@h/x"), "https://***@h/x");
        assert_eq!(
            r.redact("postgresql://bob@db/app"),
            "postgresql://bob@db/app"
        );
        assert_eq!(r.redact("s3://bucket/prefix"), "s3://bucket/prefix");
        assert_eq!(r.redact("a://b c://d"), "a://b c://d");
    }

    proptest! {
        #[test]
        fn a_known_secret_never_survives(secret in "[A-Za-z0-9]{6,24}", before in ".{0,40}", after in ".{0,40}") {
            let r = Redactor::new([secret.clone()]);
            let text = format!("{before}{secret}{after}");
            prop_assert!(!r.redact(&text).contains(&secret));
        }
    }
}
