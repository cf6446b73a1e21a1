//! The Debian package (#14): `scripts/package` builds it and lintian passes it with no
//! error and no warning; it holds every tool with its man page and completions; `dpkg -i`
//! installs it (the service user's directories made, nothing enabled) and `dpkg -r` /
//! `--purge` remove it, leaving every backup.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use testkit::TOOLS;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn uid_of(user: &str) -> u32 {
    run(Command::new("id").args(["-u", user]))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_package_is_lintian_clean_installs_and_removes_keeping_the_backups() {
    let out = tempfile::tempdir().unwrap();
    // scripts/package fails when lintian reports an error or a warning.
    let deb = run(Command::new("bash")
        .arg(testkit::workspace_root().join("scripts/package"))
        .arg("--out")
        .arg(out.path()));
    let deb = deb.trim().to_string();
    assert!(
        deb.ends_with("_amd64.deb") || deb.ends_with(".deb"),
        "{deb}"
    );

    let contents = run(Command::new("dpkg-deb").args(["--contents", &deb]));
    for t in TOOLS {
        for path in [
            format!("./usr/bin/{t}"),
            format!("./usr/share/man/man1/{t}.1.gz"),
            format!("./usr/share/bash-completion/completions/{t}"),
            format!("./usr/share/zsh/vendor-completions/_{t}"),
            format!("./usr/share/fish/vendor_completions.d/{t}.fish"),
        ] {
            assert!(contents.contains(&path), "{path} missing:\n{contents}");
        }
    }
    assert!(contents.contains("./usr/lib/systemd/system/pgops-backup.timer"));
    let env_line = contents
        .lines()
        .find(|l| l.ends_with("./etc/pgops/pgops.env"))
        .expect("the environment file");
    assert!(env_line.starts_with("-rw-r----- root/root"), "{env_line}");
    let info = run(Command::new("dpkg-deb").args(["--info", &deb]));
    assert!(
        info.contains("Depends: ") && info.contains("libssl3"),
        "{info}"
    );
    assert!(
        info.contains(" conffiles"),
        "the environment file is a conffile: {info}"
    );

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping dpkg -i: it needs root (CI runs as root)");
        return;
    }
    let status = Command::new("dpkg").args(["-s", "pgops"]).output().unwrap();
    assert!(
        !status.status.success(),
        "a pgops package is installed on this machine already: not touching it"
    );
    let catalog = Path::new("/var/backups/pgops");
    let state = Path::new("/var/lib/pgops");
    let existed = (catalog.exists(), state.exists());

    run(Command::new("dpkg").args(["-i", &deb]));
    let installed = || {
        for t in TOOLS {
            let v = run(Command::new(format!("/usr/bin/{t}")).arg("--version"));
            assert!(v.starts_with(&format!("{t} ")), "{v}");
        }
        let postgres = uid_of("postgres");
        if !existed.0 {
            let m = std::fs::metadata(catalog).unwrap();
            assert_eq!(
                m.permissions().mode() & 0o7777,
                0o700,
                "the catalog is private"
            );
            assert_eq!(m.uid(), postgres);
        }
        let env = std::fs::metadata("/etc/pgops/pgops.env").unwrap();
        assert_eq!(env.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            env.gid(),
            run(Command::new("id").args(["-g", "postgres"]))
                .trim()
                .parse::<u32>()
                .unwrap()
        );
        // Nothing is enabled without being asked.
        assert!(!Path::new("/etc/systemd/system/timers.target.wants/pgops-backup.timer").exists());
        assert!(Path::new("/usr/lib/systemd/system/pgops-backup.service").is_file());
    };
    let marker = catalog.join("keep-me-test");
    std::fs::write(&marker, b"a backup").unwrap();
    let result = std::panic::catch_unwind(installed);

    run(Command::new("dpkg").args(["-r", "pgops"]));
    assert!(!Path::new("/usr/bin/pgdump-run").exists());
    assert!(
        Path::new("/etc/pgops/pgops.env").exists(),
        "-r keeps the settings"
    );
    run(Command::new("dpkg").args(["--purge", "pgops"]));
    assert!(
        !Path::new("/etc/pgops/pgops.env").exists(),
        "--purge removes them"
    );
    assert!(
        marker.is_file(),
        "removing the package never removes a backup"
    );

    // Leave the machine as it was: what this test created, and only that.
    std::fs::remove_file(&marker).unwrap();
    if !existed.0 {
        std::fs::remove_dir(catalog).unwrap();
    }
    if !existed.1 {
        let _ = std::fs::remove_dir(state);
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
