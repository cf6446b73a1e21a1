//! port-audit on hosts built with network namespaces: a "public" veth side with
//! documentation addresses (198.51.100.0/24, 2001:db8::/64) and a `wg0` veth for the private
//! side. Traffic goes only to addresses inside these namespaces. The peers must agree with
//! us: `ss` on the sockets, `nmap -sT` on the probe. Needs root (CI runs as root).

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use testkit::ToolRun;

static SEQ: AtomicU32 = AtomicU32::new(0);

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Two namespaces joined by a public veth and a private `wg0` veth.
struct Lab {
    host: String,
    peer: String,
    listeners: Vec<Child>,
}

impl Lab {
    fn new() -> Option<Lab> {
        if !is_root() || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIPPED: network namespaces need root and iproute2 (CI has both)");
            return None;
        }
        let n = format!(
            "{}{}",
            std::process::id() % 100000,
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            host: format!("pa-h{n}"),
            peer: format!("pa-p{n}"),
            listeners: Vec::new(),
        };
        let (h, p) = (&lab.host, &lab.peer);
        sh(&format!("ip netns add {h} && ip netns add {p}"));
        sh(&format!(
            "ip link add pah{n} type veth peer name pap{n} && ip link set pah{n} netns {h} && ip link set pap{n} netns {p} \
             && ip -n {h} link set pah{n} name eth-pub && ip -n {p} link set pap{n} name eth-pub \
             && ip link add paw{n} type veth peer name pax{n} && ip link set paw{n} netns {h} && ip link set pax{n} netns {p} \
             && ip -n {h} link set paw{n} name wg0 && ip -n {p} link set pax{n} name wg0 \
             && ip -n {h} addr add 198.51.100.1/24 dev eth-pub && ip -n {p} addr add 198.51.100.2/24 dev eth-pub \
             && ip -n {h} addr add 2001:db8::1/64 dev eth-pub nodad && ip -n {p} addr add 2001:db8::2/64 dev eth-pub nodad \
             && ip -n {h} addr add 10.99.0.1/24 dev wg0 && ip -n {p} addr add 10.99.0.2/24 dev wg0 \
             && for ns in {h} {p}; do ip -n $ns link set lo up && ip -n $ns link set eth-pub up && ip -n $ns link set wg0 up; done"
        ));
        Some(lab)
    }

    /// Binds sockets in the host namespace: `(kind, address, port)` with kind tcp4/tcp6/udp4.
    fn listen(&mut self, sockets: &[(&str, &str, u16)]) {
        let mut py = String::from("import socket, sys, time\nkeep = []\n");
        for (kind, addr, port) in sockets {
            let (fam, typ) = match *kind {
                "tcp4" => ("AF_INET", "SOCK_STREAM"),
                "tcp6" => ("AF_INET6", "SOCK_STREAM"),
                _ => ("AF_INET", "SOCK_DGRAM"),
            };
            py.push_str(&format!(
                "s = socket.socket(socket.{fam}, socket.{typ})\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            ));
            if *kind == "tcp6" {
                py.push_str("s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n");
            }
            py.push_str(&format!("s.bind(('{addr}', {port}))\n"));
            if kind.starts_with("tcp") {
                py.push_str("s.listen(64)\n");
            }
            py.push_str("keep.append(s)\n");
        }
        py.push_str("print('ready', flush=True)\ntime.sleep(600)\n");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.host, "python3", "-c", &py])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.listeners.push(child);
    }

    /// A lab, when nmap is there to compare with too.
    fn with_nmap() -> Option<Lab> {
        if Command::new("nmap").arg("--version").output().is_err() {
            eprintln!("SKIPPED: nmap is not installed (scripts/test installs it)");
            return None;
        }
        Lab::new()
    }

    fn run_in(&self, ns: &str, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .output()
            .unwrap()
    }

    fn audit(&self, ns: &str, args: &[&str]) -> ToolRun {
        ToolRun::check(self.run_in(ns, env!("CARGO_BIN_EXE_port-audit"), args))
    }

    /// An audit that records its run and summary in the state directory `state`.
    fn audit_recorded(&self, ns: &str, args: &[&str], state: &std::path::Path) -> ToolRun {
        ToolRun::check(
            Command::new("ip")
                .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_port-audit")])
                .args(args)
                .env("PGOPS_STATE_DIR", state)
                .output()
                .unwrap(),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.listeners {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.host])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.peer])
            .status();
    }
}

/// The arguments of a probe-only audit of `addr` (no sockets, no rules) by `method`.
fn probe_args<'a>(addr: &'a str, ports: &'a str, method: &'a str) -> Vec<&'a str> {
    vec![
        "--no-sockets",
        "--no-rules",
        "--probe",
        addr,
        "--ports",
        ports,
        "--probe-timeout",
        "500ms",
        "--probe-method",
        method,
    ]
}

fn findings<'a>(r: &'a ToolRun, evidence: &str) -> Vec<&'a Value> {
    r.named("audit.finding")
        .into_iter()
        .filter(|f| f["evidence"] == evidence)
        .collect()
}

const SOCKETS: [(&str, &str, u16); 7] = [
    ("tcp4", "0.0.0.0", 5432),
    ("tcp4", "127.0.0.1", 6443),
    ("tcp4", "10.99.0.1", 10250),
    ("tcp4", "198.51.100.1", 22),
    ("tcp6", "::", 8080),
    ("tcp6", "2001:db8::1", 443),
    ("udp4", "0.0.0.0", 51820),
];

#[test]
fn host_audit_sees_sockets_and_nat_rules_and_agrees_with_ss() {
    let Some(mut lab) = Lab::new() else { return };
    lab.listen(&SOCKETS);
    let h = lab.host.clone();
    sh(&format!("ip netns exec {h} iptables -t nat -A PREROUTING -p tcp --dport 30080 -j DNAT --to-destination 10.99.0.2:80"));
    sh(&format!(
        "ip netns exec {h} nft add table ip pgopsnat && ip netns exec {h} nft 'add chain ip pgopsnat pre {{ type nat hook prerouting priority -90 ; }}' \
         && ip netns exec {h} nft add rule ip pgopsnat pre tcp dport 5433 dnat to 10.99.0.2:5432"
    ));
    let r = lab.audit(&h, &[]);
    assert_eq!(r.code, 1, "violations: {:#?}", r.events);
    let socks: BTreeSet<(String, String, u64, String, String)> = findings(&r, "socket")
        .iter()
        .map(|f| {
            (
                f["proto"].as_str().unwrap().to_string(),
                f["address"].as_str().unwrap().to_string(),
                f["port"].as_u64().unwrap(),
                f["scope"].as_str().unwrap().to_string(),
                f["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, u64, String, String)> = [
        ("tcp", "0.0.0.0", 5432, "wildcard", "violation"),
        ("tcp", "127.0.0.1", 6443, "loopback", "ok"),
        ("tcp", "10.99.0.1", 10250, "wireguard", "ok"),
        ("tcp", "198.51.100.1", 22, "public", "ok"),
        ("tcp", "::", 8080, "wildcard", "violation"),
        ("tcp", "2001:db8::1", 443, "public", "ok"),
        ("udp", "0.0.0.0", 51820, "wildcard", "ok"),
    ]
    .iter()
    .map(|(a, b, c, d, e)| {
        (
            a.to_string(),
            b.to_string(),
            *c,
            d.to_string(),
            e.to_string(),
        )
    })
    .collect();
    assert_eq!(socks, expected);
    assert!(
        findings(&r, "socket")
            .iter()
            .all(|f| f["process"]["command"] == "python3"),
        "owners found through /proc/<pid>/fd"
    );

    // ss agrees on what listens.
    let ss = String::from_utf8(lab.run_in(&h, "ss", &["-H", "-ltnu"]).stdout).unwrap();
    let from_ss: BTreeSet<(String, String, u64)> = ss
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f[4].rsplit_once(':').unwrap();
            let addr = addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split('%')
                .next()
                .unwrap();
            let addr = if addr == "*" { "::" } else { addr };
            (f[0].to_string(), addr.to_string(), port.parse().unwrap())
        })
        .collect();
    let ours: BTreeSet<(String, String, u64)> = socks
        .iter()
        .map(|(p, a, n, _, _)| (p.clone(), a.clone(), *n))
        .collect();
    assert_eq!(ours, from_ss);

    let rules: Vec<(u64, String)> = findings(&r, "rule")
        .iter()
        .map(|f| {
            (
                f["port"].as_u64().unwrap(),
                f["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        rules.contains(&(30080, "violation".into())),
        "iptables DNAT: {rules:?}"
    );
    assert!(
        rules.contains(&(5433, "violation".into())),
        "nft DNAT: {rules:?}"
    );
    let summary = r.named("audit.summary")[0];
    assert_eq!(summary["complete"], true);
}

/// The TCP ports a probe found open.
fn open_tcp(r: &ToolRun) -> BTreeSet<u64> {
    findings(r, "probe")
        .iter()
        .filter(|f| f["proto"] == "tcp" && f["state"] == "open")
        .map(|f| f["port"].as_u64().unwrap())
        .collect()
}

/// The open TCP ports `nmap -sT -p-` finds on `addr`, run in namespace `ns`.
fn nmap_open(lab: &Lab, ns: &str, addr: &str) -> BTreeSet<u64> {
    let mut args = vec!["-sT", "-p-", "-n", "-Pn", "--open", "-oG", "-"];
    if addr.contains(':') {
        args.push("-6");
    }
    args.push(addr);
    let out = String::from_utf8(lab.run_in(ns, "nmap", &args).stdout).unwrap();
    out.lines()
        .filter_map(|l| l.split_once("Ports: "))
        .flat_map(|(_, ports)| {
            ports
                .split(", ")
                .filter_map(|p| p.split('/').next()?.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect()
}

/// A full probe of an address of the very host that probes it: a connect to a port of the
/// local ephemeral range can meet itself (TCP simultaneous open) and look open. Twenty
/// consecutive full probes, over a namespace address, 127.0.0.1 and ::1, by both methods
/// (SYN and connect) in turn, must each give exactly the open set nmap gives: no phantom
/// port, ever.
#[test]
fn twenty_full_probes_of_the_own_host_have_no_phantom_ports() {
    let Some(mut lab) = Lab::with_nmap() else {
        return;
    };
    lab.listen(&SOCKETS);
    let h = lab.host.clone();
    let addrs = ["198.51.100.1", "127.0.0.1", "::1"];
    let expected: Vec<BTreeSet<u64>> = addrs.iter().map(|a| nmap_open(&lab, &h, a)).collect();
    assert_eq!(expected[0], BTreeSet::from([22, 5432, 8080]));
    assert_eq!(expected[1], BTreeSet::from([5432, 6443, 8080]));
    assert_eq!(expected[2], BTreeSet::from([8080]));
    for run in 0..20 {
        let i = run % addrs.len();
        let method = ["syn", "connect"][run % 2];
        let r = lab.audit(&h, &probe_args(addrs[i], "1-65535", method));
        assert_eq!(
            open_tcp(&r),
            expected[i],
            "run {run} ({method}) on {}: phantom or missing ports",
            addrs[i]
        );
        assert!(findings(&r, "probe").iter().all(|f| f["method"] == method));
    }
}

#[test]
fn a_probe_from_outside_agrees_with_nmap_and_finds_postgres() {
    let Some(mut lab) = Lab::with_nmap() else {
        return;
    };
    lab.listen(&SOCKETS);
    let p = lab.peer.clone();
    let r = lab.audit(
        &p,
        &probe_args("198.51.100.1", "tcp/1-65535,udp/51820", "auto"),
    );
    assert_eq!(r.code, 1, "{:#?}", r.events);
    exposure_reaches_ops_status(&lab, &p);
    let open = open_tcp(&r);
    assert_eq!(
        open,
        BTreeSet::from([22, 5432, 8080]),
        "loopback and wg0 listeners are not reachable"
    );
    let pg = findings(&r, "probe")
        .into_iter()
        .find(|f| f["port"] == 5432)
        .unwrap();
    assert_eq!(pg["verdict"], "violation");
    assert_eq!(pg["rule"], "never-public tcp/5432");
    let wg = findings(&r, "probe")
        .into_iter()
        .find(|f| f["proto"] == "udp")
        .unwrap();
    assert_eq!(
        (wg["state"].as_str(), wg["verdict"].as_str()),
        (Some("open|filtered"), Some("ok")),
        "WireGuard stays silent"
    );

    let from_nmap = nmap_open(&lab, &p, "198.51.100.1");
    assert_eq!(open, from_nmap, "nmap -sT agrees");
    // The default (auto) as root is the SYN probe; the connect probe finds the same.
    assert!(findings(&r, "probe").iter().any(|f| f["method"] == "syn"));
    let connect = lab.audit(&p, &probe_args("198.51.100.1", "tcp/1-65535", "connect"));
    assert_eq!(open_tcp(&connect), from_nmap, "the connect probe agrees");

    let r6 = lab.audit(
        &p,
        &probe_args("2001:db8::1", "tcp/22,tcp/443,tcp/8080", "auto"),
    );
    let open6: BTreeSet<u64> = findings(&r6, "probe")
        .iter()
        .filter(|f| f["state"] == "open")
        .map(|f| f["port"].as_u64().unwrap())
        .collect();
    assert_eq!(open6, BTreeSet::from([443, 8080]));
    assert_eq!(r6.code, 1, "8080 is public and not allowed");
}

/// The last audit and the run are recorded in the state directory, and ops-status reads
/// them: its health names the exposed port, its metrics count the violation and the run.
fn exposure_reaches_ops_status(lab: &Lab, ns: &str) {
    let state = tempfile::tempdir().unwrap();
    let catalog = tempfile::tempdir().unwrap();
    let r = lab.audit_recorded(
        ns,
        &probe_args("198.51.100.1", "tcp/5432", "connect"),
        state.path(),
    );
    assert_eq!(r.code, 1, "{:#?}", r.events);
    // A probe-only run keeps its record apart: it never replaces the host's own audit.
    assert!(!state.path().join("audit.json").exists());
    let record: Value =
        serde_json::from_slice(&std::fs::read(state.path().join("audit-probe.json")).unwrap())
            .unwrap();
    assert_eq!(record["violations"], 1, "{record}");
    assert_eq!(record["correlation_id"], r.events[0]["correlation_id"]);
    testkit::schema::check("files/audit.json", &record);
    // Every run's line in runs.jsonl is its run.finished event, as that schema says.
    for line in std::fs::read_to_string(state.path().join("runs.jsonl"))
        .unwrap()
        .lines()
    {
        testkit::schema::validate_event_line(line);
    }
    let runs = std::fs::read_to_string(state.path().join("runs.jsonl")).unwrap();
    let run: Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    assert_eq!(
        (run["source"].as_str(), run["result"].as_str()),
        (Some("port-audit"), Some("failed"))
    );

    let status = |args: &[&str]| {
        Command::new(testkit::tool_bin("ops-status"))
            .args(args)
            .arg("--backup-dir")
            .arg(catalog.path())
            .arg("--state-dir")
            .arg(state.path())
            .output()
            .unwrap()
    };
    let out = status(&["health"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let audit = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "port_audit_clean")
        .unwrap();
    assert_eq!(audit["state"], "not_ready");
    assert!(
        audit["reasons"][0].as_str().unwrap().contains("tcp/5432"),
        "{audit}"
    );
    let text = String::from_utf8(status(&["metrics"]).stdout).unwrap();
    assert!(text.contains("\npgops_audit_violations 1\n"), "{text}");
    assert!(
        text.contains("pgops_runs_total{tool=\"port-audit\",result=\"failed\"} 1\n"),
        "{text}"
    );
}

#[test]
fn a_clean_host_passes_and_an_unreadable_ruleset_never_does() {
    let Some(mut lab) = Lab::new() else { return };
    lab.listen(&[
        ("tcp4", "0.0.0.0", 22),
        ("tcp4", "127.0.0.1", 5432),
        ("tcp4", "10.99.0.1", 6443),
        ("udp4", "0.0.0.0", 51820),
    ]);
    let h = lab.host.clone();
    let r = lab.audit(&h, &[]);
    assert_eq!(r.code, 0, "{:#?}", r.events);
    assert_eq!(r.named("audit.summary")[0]["violations"], 0);
    let r = lab.audit(
        &h,
        &[
            "--nft",
            "/bin/false",
            "--iptables-save",
            "/bin/false",
            "--ip6tables-save",
            "/bin/false",
        ],
    );
    assert_eq!(r.code, 3, "an incomplete audit exits 3");
    assert_eq!(r.named("audit.summary")[0]["complete"], false);
    let r = lab.audit(
        &h,
        &[
            "--allow",
            "tcp/22",
            "--never-public",
            "tcp/51820-51821,udp/51820",
        ],
    );
    assert_eq!(r.code, 1, "a policy from flags: udp/51820 now forbidden");
}

#[test]
fn invalid_policies_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_port-audit"))
        .args(["--allow", "tcp/99999"])
        .output()
        .unwrap();
    let r = ToolRun::check(out);
    assert_eq!(r.code, 2);
    assert_eq!(r.error_code("run.failed"), "invalid_policy");
}
