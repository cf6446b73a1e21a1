//! The probe's two methods on loopback: the SYN probe needs CAP_NET_RAW; without it
//! `auto` falls back to connecting and `syn` is refused with a clear error.

use std::net::TcpListener;
use std::process::Command;
use testkit::ToolRun;

fn audit(args: &[&str], unprivileged: bool) -> ToolRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_port-audit"));
    cmd.args(["--no-sockets", "--no-rules"]).args(args);
    let out = if unprivileged {
        testkit::as_nobody(&mut cmd)
    } else {
        cmd.output().unwrap()
    };
    ToolRun::check(out)
}

fn probed(r: &ToolRun) -> Vec<(u64, String, String)> {
    r.named("audit.finding")
        .iter()
        .filter(|f| f["evidence"] == "probe")
        .map(|f| {
            (
                f["port"].as_u64().unwrap(),
                f["state"].as_str().unwrap().to_string(),
                f["method"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn both_methods_find_a_loopback_listener_and_syn_needs_the_right() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let ports = format!("tcp/{port}");
    let base = [
        "--probe",
        "127.0.0.1",
        "--ports",
        &ports,
        "--probe-timeout",
        "300ms",
    ];
    let with = |method: &'static str| -> Vec<&str> {
        base.iter()
            .copied()
            .chain(["--probe-method", method])
            .collect()
    };

    let r = audit(&with("connect"), false);
    assert_eq!(
        probed(&r),
        [(u64::from(port), "open".into(), "connect".into())]
    );

    if testkit::is_root() {
        let r = audit(&with("syn"), false);
        assert_eq!(probed(&r), [(u64::from(port), "open".into(), "syn".into())]);
        let r = audit(&with("auto"), false);
        assert_eq!(probed(&r)[0].2, "syn", "auto prefers SYN when permitted");
    }

    // Without CAP_NET_RAW: auto connects, syn is a usage error said up front.
    let r = audit(&with("auto"), true);
    assert_eq!(
        probed(&r),
        [(u64::from(port), "open".into(), "connect".into())]
    );
    let r = audit(&with("syn"), true);
    assert_eq!(r.code, 2, "{:#?}", r.events);
    assert_eq!(r.error_code("run.failed"), "probe_not_permitted");
}
