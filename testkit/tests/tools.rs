//! What every pgops tool promises on its command line, checked across all of them.

use testkit::TOOLS;

/// `--version`: the name, the version, the git commit and the build date, so a report
/// names exactly the build that wrote it.
#[test]
fn every_tool_says_its_version_commit_and_build_date() {
    for tool in TOOLS {
        let out = std::process::Command::new(testkit::tool_bin(tool))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool}");
        let text = String::from_utf8(out.stdout).unwrap();
        let want = format!("{tool} {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(text.starts_with(&want), "{tool}: {text}");
        let built = text
            .split(", built ")
            .nth(1)
            .and_then(|r| r.strip_suffix(")\n"))
            .unwrap_or_else(|| panic!("{tool}: no build date in {text:?}"));
        assert!(
            jiff::civil::Date::strptime("%Y-%m-%d", built).is_ok(),
            "{tool}: {built:?}"
        );
        assert!(
            !text.contains("commit unknown"),
            "{tool}: built in a checkout: {text}"
        );
    }
}

/// Words for people: on a terminal (a real pseudo-terminal, from `script`) each error
/// and a summary are readable lines; piped, stderr stays quiet and stdout JSON; under
/// systemd (JOURNAL_STREAM) the lines carry journald priorities; `-q` silences them.
#[test]
fn people_get_words_on_a_terminal_and_the_journal_gets_priorities() {
    let bin = testkit::tool_bin("pgdump-run");
    let port = testkit::free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--all",
        "-p",
        &port,
        "--backup-dir",
        dir.path().to_str().unwrap(),
    ];
    let cmd = format!("{} {}", bin.display(), args.join(" "));
    let in_pty = |extra: &str| {
        let out = std::process::Command::new("script")
            .args(["-qec", &format!("{cmd} {extra}"), "/dev/null"])
            .output()
            .expect("script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = in_pty("");
    assert!(
        text.contains("pgdump-run: error: connect_failed: "),
        "{text}"
    );
    assert!(text.contains(" — check that the server runs"), "{text}");
    assert!(text.contains("pgdump-run: backup error in "), "{text}");
    assert!(!in_pty("-q").contains("pgdump-run: error:"));

    let piped = std::process::Command::new(&bin)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("pgdump-run: error:"), "{stderr}");
    for line in String::from_utf8_lossy(&piped.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("stdout stays JSON lines");
    }

    let journal = std::process::Command::new(&bin)
        .args(args)
        .env("JOURNAL_STREAM", "8:1234")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&journal.stderr);
    assert!(
        stderr.contains("<3>pgdump-run: error: connect_failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("<3>pgdump-run: backup error in"),
        "{stderr}"
    );
}

fn help_of(tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(testkit::tool_bin(tool))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The flags `--help` shows without a description (a flag line followed by nothing, by
/// only `[default: …]`/`[env: …]`, or by the next flag).
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        if !(2..=6).contains(&indent) || !t.starts_with('-') {
            continue;
        }
        // Short help puts the description on the same line after two spaces.
        if t.split("  ").filter(|p| !p.trim().is_empty()).count() > 1 {
            continue;
        }
        let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
        let next_indent = lines
            .get(i + 1)
            .map(|n| n.len() - n.trim_start().len())
            .unwrap_or(0);
        if next.is_empty() || next.starts_with('[') || (next.starts_with('-') && next_indent <= 6) {
            out.push(t.to_string());
        }
    }
    out
}

/// Every tool: `-?` is `--help`, every flag is described, the help has examples, and
/// each subcommand answers both `X --help` and `help X`.
#[test]
fn every_help_describes_every_flag_and_shows_examples() {
    let subcommands: &[(&str, &[&str])] = &[
        ("restore-drill", &["history"]),
        ("ops-status", &["health", "metrics", "serve"]),
    ];
    for tool in TOOLS {
        let long = help_of(tool, &["--help"]);
        assert_eq!(help_of(tool, &["-?"]), long, "{tool}: -? is --help");
        assert!(long.contains("Examples:"), "{tool} --help has no example");
        let missing = undescribed(&long);
        assert!(
            missing.is_empty(),
            "{tool}: flags without a description: {missing:?}"
        );
        for (_, subs) in subcommands.iter().filter(|(t, _)| *t == tool) {
            for sub in *subs {
                let a = help_of(tool, &[sub, "--help"]);
                assert_eq!(help_of(tool, &["help", sub]), a, "{tool} help {sub}");
                assert_eq!(help_of(tool, &[sub, "-?"]), a, "{tool} {sub} -?");
                let missing = undescribed(&a);
                assert!(missing.is_empty(), "{tool} {sub}: {missing:?}");
            }
        }
    }
}

/// Progress bars: on a terminal a long step shows a bar with its size, rate and time
/// left; piped, under `-q` or under systemd there is none (no carriage returns, no
/// escape codes in a log).
#[test]
fn a_long_step_shows_a_bar_on_a_terminal_and_nothing_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    // 400 MiB read back takes over a second here: long enough for a bar to be drawn.
    let archive = vec![0u8; 400 << 20];
    testkit::fake::write_set_holding(dir.path(), Some("big"), "20261125T030000Z", &archive);
    drop(archive);
    let bin = testkit::tool_bin("backup-verify");
    let cmd = format!(
        "{} --backup-dir {} --no-record",
        bin.display(),
        dir.path().display()
    );
    let in_pty = |extra: &str| {
        let out = std::process::Command::new("script")
            .args(["-qec", &format!("{cmd} {extra}"), "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .expect("script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = in_pty("");
    assert!(text.contains("big 20261125T030000Z: verify"), "{text}");
    assert!(
        text.contains("MiB/400.00 MiB"),
        "size against the total: {text}"
    );
    assert!(text.contains("ETA"), "{text}");
    assert!(!in_pty("-q").contains(": verify"));

    for env in [None, Some(("JOURNAL_STREAM", "8:1234"))] {
        let mut c = std::process::Command::new(&bin);
        c.args(["--backup-dir", dir.path().to_str().unwrap(), "--no-record"]);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("ETA") && !stderr.contains("MiB/"),
            "{env:?}: {stderr}"
        );
        assert!(
            !stderr.contains('\r') && !stderr.contains('\x1b'),
            "{stderr:?}"
        );
    }
}

/// Credentials inside a location (`s3://KEY:SECRET@bucket`, `https://user:secret@…`) or
/// inside `AWS_ENDPOINT_URL` never show (issue #22 §4): every tool that takes a location,
/// on its error paths, over stdout, stderr and every file it leaves in the state directory
/// and the catalog. The sentinel is the S3 secret [`ToolRun::check`] looks for too.
#[test]
fn credentials_in_locations_and_endpoints_never_show() {
    let secret = testkit::SENTINEL_S3_SECRET;
    let state = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let local = local.path().to_str().unwrap();
    let in_location = format!("s3://AKIAEXAMPLE:{secret}@pgops/prefix");
    let in_https = format!("https://user:{secret}@127.0.0.1:1/pgops");
    let endpoint = format!("http://user:{secret}@127.0.0.1:1");
    let runs: Vec<(&str, Vec<&str>, bool)> = vec![
        ("backup-verify", vec!["--backup-dir", &in_location], false),
        ("backup-verify", vec!["--backup-dir", &in_https], false),
        ("backup-verify", vec!["--backup-dir", "s3://pgops/p"], true),
        (
            "backup-rotate",
            vec!["--backup-dir", &in_location, "--keep-last", "1"],
            false,
        ),
        (
            "backup-rotate",
            vec!["--backup-dir", "s3://pgops/p", "--keep-last", "1"],
            true,
        ),
        ("backup-copy", vec![local, &in_location], false),
        ("backup-copy", vec![&in_location, local], false),
        ("backup-copy", vec![local, &in_https], false),
        ("backup-copy", vec![local, "s3://pgops/p"], true),
        (
            "backup-restore",
            vec!["--backup-dir", &in_location, "-d", "shop"],
            false,
        ),
        (
            "backup-restore",
            vec!["--backup-dir", "s3://pgops/p", "-d", "shop"],
            true,
        ),
        (
            "restore-drill",
            vec!["--backup-dir", &in_location, "-d", "shop"],
            false,
        ),
        (
            "restore-drill",
            vec!["--backup-dir", "s3://pgops/p", "-d", "shop"],
            true,
        ),
        ("ops-status", vec!["--backup-dir", &in_location], false),
        (
            "pgdump-run",
            vec!["--backup-dir", &in_location, "-d", "shop"],
            false,
        ),
    ];
    let keys = testkit::keys::Keys::shared();
    for (tool, args, with_endpoint) in runs {
        let mut cmd = std::process::Command::new(testkit::tool_bin(tool));
        cmd.args(&args)
            .envs(keys.env())
            .env("PGOPS_STATE_DIR", state.path())
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("PGOPS_RETRY_TIMEOUT", "1s")
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", testkit::free_port().to_string())
            .env_remove("AWS_ENDPOINT_URL");
        if with_endpoint {
            cmd.env("AWS_ENDPOINT_URL", &endpoint);
        }
        let out = cmd.output().unwrap();
        let what = format!("{tool} {args:?} endpoint={with_endpoint}");
        testkit::assert_no_secret(&format!("{what}: stdout"), &out.stdout);
        testkit::assert_no_secret(&format!("{what}: stderr"), &out.stderr);
        assert_ne!(out.status.code(), Some(0), "{what}: it cannot have worked");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("run.failed"), "{what}: {stdout}");
    }
    testkit::assert_no_secret_in_tree(state.path());
}
