//! `AWS_PROFILE` with `~/.aws/credentials` and `~/.aws/config`, read as the AWS CLI reads
//! them (object_store reads only the environment): the profile's keys, region and
//! `endpoint_url`. The environment still wins.

use std::path::PathBuf;

/// What a profile gives.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// The profile `AWS_PROFILE` names (else `default`), from the files the AWS variables name
/// (else under `$HOME/.aws`). Missing files or sections give nothing.
pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Profile {
    let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let file = |var: &str, default: &str| {
        env(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
    };
    let read = |p: PathBuf| ini::Ini::load_from_file(p).ok();
    let mut out = Profile::default();
    if let Some(creds) = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials")) {
        if let Some(s) = creds.section(Some(name.as_str())) {
            out.access_key_id = s.get("aws_access_key_id").map(str::to_string);
            out.secret_access_key = s.get("aws_secret_access_key").map(str::to_string);
            out.session_token = s.get("aws_session_token").map(str::to_string);
        }
    }
    if let Some(config) = read(file("AWS_CONFIG_FILE", "config")) {
        // In the config file every profile but `default` is `[profile NAME]`.
        let section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        if let Some(s) = config.section(Some(section.as_str())) {
            out.region = s.get("region").map(str::to_string);
            out.endpoint_url = s.get("endpoint_url").map(str::to_string);
            // Keys may live in the config file too; the credentials file wins.
            if out.access_key_id.is_none() {
                out.access_key_id = s.get("aws_access_key_id").map(str::to_string);
                out.secret_access_key = s.get("aws_secret_access_key").map(str::to_string);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_as_the_aws_cli_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[r2]\naws_access_key_id = R\naws_secret_access_key = RS\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[default]\nregion = eu-west-1\n\n[profile r2]\nregion = auto\nendpoint_url = https://acct.r2.cloudflarestorage.com\n",
        )
        .unwrap();
        let home = dir.path().display().to_string();
        let env = |profile: Option<&'static str>| {
            let home = home.clone();
            move |k: &str| match k {
                "HOME" => Some(home.clone()),
                "AWS_PROFILE" => profile.map(str::to_string),
                _ => None,
            }
        };
        let d = load(&env(None));
        assert_eq!(d.access_key_id.as_deref(), Some("D"));
        assert_eq!(d.region.as_deref(), Some("eu-west-1"));
        assert_eq!(d.endpoint_url, None);
        let r = load(&env(Some("r2")));
        assert_eq!(r.secret_access_key.as_deref(), Some("RS"));
        assert_eq!(r.region.as_deref(), Some("auto"));
        assert_eq!(
            r.endpoint_url.as_deref(),
            Some("https://acct.r2.cloudflarestorage.com")
        );
        assert!(!format!("{r:?}").contains("RS"), "the secret never shows");
        assert_eq!(load(&env(Some("absent"))), Profile::default());
    }
}
