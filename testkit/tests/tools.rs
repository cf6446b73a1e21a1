//! What every pgops tool promises on its command line, checked across all of them.

const TOOLS: [&str; 7] = [
    "pgdump-run",
    "backup-verify",
    "backup-rotate",
    "backup-copy",
    "restore-drill",
    "port-audit",
    "ops-status",
];

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
