//! `port-audit`: prove that only the allowed ports are public and PostgreSQL never is.
//!
//! Evidence comes from three independent modules — [`sockets`] (what listens), [`netfilter`]
//! (what NAT rules forward, which no socket table shows), [`probe`] (what answers from
//! outside) — and every item is classified by [`scope`] and judged by [`policy`] (pure).

pub mod cli;
pub mod netfilter;
pub mod policy;
pub mod probe;
pub mod probed;
pub mod report;
pub use ops_core::scope;
pub mod sockets;
pub mod syn;

use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::{ExitCode, OpsError};
use policy::{Policy, PortSpec, Proto, Verdict};
use serde_json::json;
use std::collections::BTreeMap;

/// Parses the command line and runs. Invalid flags get an event and exit 2.
pub fn main_with_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = match ops_core::cli::parse::<cli::Args>(argv, "port-audit", "audit") {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    let emitter = Emitter::stdout("port-audit", correlation_id_from_env());
    match run(&args, &emitter) {
        Ok(exit) => exit,
        Err(error) => ops_core::cli::fail_run(&emitter, "audit", error),
    }
}

fn which(name: &str) -> Option<String> {
    ops_core::child::locate(name, None).map(|p| p.display().to_string())
}

/// The policy: `--policy FILE` when given, else the flags (parsed by clap already).
fn load_policy(args: &cli::Args) -> Result<Policy, OpsError> {
    let Some(path) = &args.policy else {
        return Ok(Policy {
            allow: args.allow.0.clone(),
            never_public: args.never_public.0.clone(),
        });
    };
    let bad =
        |e: String| OpsError::validation("invalid_policy", format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let f: policy::PolicyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let parse = |v: &[String]| -> Result<Vec<PortSpec>, OpsError> {
        let mut out = Vec::new();
        for s in v {
            out.extend(policy::parse_list(s).map_err(bad)?);
        }
        Ok(out)
    };
    Ok(Policy {
        allow: parse(&f.allow)?,
        never_public: parse(&f.never_public)?,
    })
}

/// What one kind of evidence found, and what it could not look at.
#[derive(Debug, Default)]
struct Evidence {
    findings: Vec<report::Finding>,
    incomplete: Vec<String>,
    sources: Vec<String>,
    /// `proto/port` that answered a probe.
    open_ports: Vec<String>,
}

/// Where the audit looks and by which policy: resolved from the flags before any work.
struct Inputs {
    policy: Policy,
    probe_ports: Vec<PortSpec>,
    private_addrs: Vec<std::net::IpAddr>,
}

fn resolve(args: &cli::Args) -> Result<Inputs, OpsError> {
    Ok(Inputs {
        policy: load_policy(args)?,
        probe_ports: args.ports.0.clone(),
        private_addrs: probe::interface_addresses(&args.private_interfaces),
    })
}

/// Evidence 1: what listens on this host.
fn socket_evidence(inputs: &Inputs) -> Result<Evidence, OpsError> {
    let mut ev = Evidence {
        sources: vec!["sockets".into()],
        ..Evidence::default()
    };
    let socks = sockets::read_sockets()
        .map_err(|e| OpsError::new("proc_unreadable", ops_core::Category::Io, e))?;
    let (owners, unreadable) = sockets::owners();
    if !unreadable.is_empty() {
        ev.incomplete.push(format!(
            "/proc/<pid>/fd of {} process(es) could not be read (run as root)",
            unreadable.len()
        ));
    }
    for s in socks {
        let scope = scope::classify(s.address, &inputs.private_addrs);
        let j = inputs.policy.judge(s.proto, s.port, scope);
        let process = owners.get(&s.inode);
        ev.findings.push(report::Finding {
            evidence: "socket",
            proto: s.proto,
            family: s.family,
            address: Some(s.address.to_string()),
            port: s.port,
            scope,
            state: if s.proto == Proto::Tcp {
                "listen"
            } else {
                "bound"
            },
            method: None,
            verdict: j.verdict,
            rule: j.rule,
            reason: j.reason,
            process: Some(process.map(|p| report::Process {
                pid: p.pid,
                command: p.command.clone(),
                uid: s.uid,
            })),
            nat_rule: None,
            source: None,
            interface: None,
            message: String::new(),
        });
    }
    Ok(ev)
}

/// Where a NAT rule exposes a port: its interface decides before its address. Pure.
fn rule_scope(
    e: &netfilter::Exposure,
    private_interfaces: &[String],
    private: &[std::net::IpAddr],
) -> scope::Scope {
    match (&e.interface, e.address) {
        (Some(i), _) if i == "lo" => scope::Scope::Loopback,
        (Some(i), _)
            if private_interfaces
                .iter()
                .any(|p| scope::interface_matches(p, i)) =>
        {
            scope::Scope::Wireguard
        }
        (_, Some(a)) => scope::classify(a, private),
        _ => scope::Scope::Wildcard,
    }
}

/// Evidence 2: what the firewall's NAT rules forward, which no socket table shows.
fn rule_evidence(args: &cli::Args, inputs: &Inputs) -> Evidence {
    let ipt = args
        .iptables_save
        .clone()
        .or_else(|| which("iptables-save"));
    let ip6t = args
        .ip6tables_save
        .clone()
        .or_else(|| which("ip6tables-save"));
    let nft = args.nft.clone().or_else(|| which("nft"));
    let rules = netfilter::read_rules(ipt.as_deref(), ip6t.as_deref(), nft.as_deref());
    let mut ev = Evidence {
        incomplete: rules.incomplete,
        sources: rules.sources,
        ..Evidence::default()
    };
    for e in rules.exposures {
        let scope = rule_scope(&e, &args.private_interfaces, &inputs.private_addrs);
        let j = inputs.policy.judge(e.proto, e.port, scope);
        let family = match e.address {
            Some(std::net::IpAddr::V6(_)) => "ipv6",
            Some(_) => "ipv4",
            None if e.source == "ip6tables" => "ipv6",
            None => "any",
        };
        ev.findings.push(report::Finding {
            evidence: "rule",
            proto: e.proto,
            family,
            address: e.address.map(|a| a.to_string()),
            port: e.port,
            scope,
            state: "forwarded",
            method: None,
            verdict: j.verdict,
            rule: j.rule,
            reason: format!("{} (a NAT rule forwards it; no socket shows it)", j.reason),
            process: None,
            nat_rule: Some(e.rule.clone()),
            source: Some(e.source),
            interface: Some(e.interface.clone()),
            message: String::new(),
        });
    }
    ev
}

/// The verdict of what a probe saw of one port. Pure: an open port is judged by the
/// policy; a closed one is fine; silence is fine where the policy allows the port (e.g.
/// WireGuard), else inconclusive.
fn probe_verdict(
    p: &probe::Probed,
    policy: &Policy,
    scope: scope::Scope,
) -> (Verdict, String, String) {
    match p.state {
        probe::State::Closed => (Verdict::Ok, "closed".to_string(), "closed".to_string()),
        probe::State::Open => {
            let j = policy.judge(p.proto, p.port, scope);
            (j.verdict, j.rule, j.reason)
        }
        _ => {
            let j = policy.judge(p.proto, p.port, scope);
            match j.verdict {
                Verdict::Ok => (
                    Verdict::Ok,
                    j.rule,
                    "no answer, as expected (e.g. WireGuard stays silent)".to_string(),
                ),
                _ => (
                    Verdict::Inconclusive,
                    j.rule,
                    "no answer: open or filtered".to_string(),
                ),
            }
        }
    }
}

fn ports_of(specs: &[PortSpec], proto: Proto) -> Vec<u16> {
    specs
        .iter()
        .filter(|s| s.proto == proto)
        .flat_map(|s| s.from..=s.to)
        .collect()
}

/// Evidence 3: what answers at `host` from where port-audit runs.
fn probe_evidence(
    args: &cli::Args,
    inputs: &Inputs,
    host: std::net::IpAddr,
) -> Result<Evidence, OpsError> {
    let mut ev = Evidence {
        sources: vec![format!("probe {host}")],
        ..Evidence::default()
    };
    let scope = scope::classify(host, &inputs.private_addrs);
    let (method, results) = probe::tcp_probe(
        host,
        &ports_of(&inputs.probe_ports, Proto::Tcp),
        args.probe_method,
        args.probe_concurrency as usize,
        args.probe_timeout,
    )?;
    let mut all: Vec<probe::Probed> = results
        .into_iter()
        .filter(|p| p.state == probe::State::Open)
        .collect();
    for port in ports_of(&inputs.probe_ports, Proto::Udp) {
        all.push(
            probe::udp_probe(host, port, args.probe_timeout)
                .map_err(|e| OpsError::io(format!("probing {host} udp/{port}"), &e))?,
        );
    }
    let family = if host.is_ipv4() { "ipv4" } else { "ipv6" };
    for p in all {
        let (verdict, rule, reason) = probe_verdict(&p, &inputs.policy, scope);
        if p.state == probe::State::Open {
            ev.open_ports.push(format!("{}/{}", p.proto, p.port));
        }
        ev.findings.push(report::Finding {
            evidence: "probe",
            proto: p.proto,
            family,
            address: Some(host.to_string()),
            port: p.port,
            scope,
            state: p.state.name(),
            method: Some(if p.proto == Proto::Tcp { method } else { "udp" }),
            verdict,
            rule,
            reason,
            process: None,
            nat_rule: None,
            source: None,
            interface: None,
            message: String::new(),
        });
    }
    Ok(ev)
}

/// The audit as reported so far: each source's findings are emitted as soon as they are
/// judged (a long probe does not hold back what the sockets showed).
#[derive(Debug, Default)]
struct Tally {
    verdicts: BTreeMap<&'static str, usize>,
    /// What breaks the policy, as `proto/port`: what an operator closes first.
    violating: std::collections::BTreeSet<String>,
    incomplete: Vec<String>,
    sources: Vec<String>,
    open_ports: Vec<String>,
}

impl Tally {
    fn report(&mut self, ev: Evidence, emitter: &Emitter) {
        for mut f in ev.findings {
            f.message = f.words();
            if f.verdict == Verdict::Violation {
                self.violating.insert(format!("{}/{}", f.proto, f.port));
            }
            *self.verdicts.entry(f.verdict.name()).or_default() += 1;
            emitter.send(&f);
        }
        self.incomplete.extend(ev.incomplete);
        self.sources.extend(ev.sources);
        self.open_ports.extend(ev.open_ports);
    }

    fn violations(&self) -> usize {
        self.verdicts.get("violation").copied().unwrap_or(0)
    }
}

/// Runs the audit; returns the exit code after `run.finished`.
pub fn run(args: &cli::Args, emitter: &Emitter) -> Result<ExitCode, OpsError> {
    let inputs = resolve(args)?;
    let mut tally = Tally::default();
    if !args.no_sockets {
        tally.report(socket_evidence(&inputs)?, emitter);
    }
    if !args.no_rules {
        tally.report(rule_evidence(args, &inputs), emitter);
    }
    for host in &args.probe {
        tally.report(probe_evidence(args, &inputs, *host)?, emitter);
    }
    Ok(summarize(&tally, &inputs.policy, emitter))
}

/// `audit.summary`, the record for ops-status, and `run.finished`.
fn summarize(tally: &Tally, policy: &Policy, emitter: &Emitter) -> ExitCode {
    let violations = tally.violations();
    let complete = tally.incomplete.is_empty();
    let exit = if violations > 0 {
        ExitCode::Problem
    } else if !complete {
        ExitCode::Unavailable
    } else {
        ExitCode::Ok
    };
    let summary = report::Summary {
        verdicts: tally.verdicts.clone(),
        violations,
        complete,
        incomplete: tally.incomplete.clone(),
        sources: tally.sources.clone(),
        open_ports: tally.open_ports.clone(),
        violating_ports: tally.violating.clone(),
        policy: report::PolicyText {
            allow: policy.allow.iter().map(|s| s.to_string()).collect(),
            never_public: policy.never_public.iter().map(|s| s.to_string()).collect(),
        },
    };
    // The last audit, for ops-status (its health component and pgops_audit_violations).
    // A run that did not look at the host (probes only) never replaces the host's audit:
    // ops-status reads both and a violation of either stands.
    let looked_at_host = tally.sources.iter().any(|s| !s.starts_with("probe"));
    ops_core::state::write_record(
        if looked_at_host {
            ops_core::state::AUDIT_FILE
        } else {
            ops_core::state::AUDIT_PROBE_FILE
        },
        &report::Record {
            summary: &summary,
            finished_at: ops_core::timefmt::now_rfc3339(),
            correlation_id: emitter.correlation_id(),
        },
    );
    emitter.send(&summary);
    emitter.finish(
        "audit",
        exit,
        json!({"violations": violations, "complete": complete}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_names_its_port_address_and_why() {
        let f = report::Finding {
            evidence: "socket",
            proto: Proto::Tcp,
            family: "ipv4",
            address: Some("0.0.0.0".into()),
            port: 5432,
            scope: scope::Scope::Wildcard,
            state: "listen",
            method: None,
            verdict: Verdict::Violation,
            rule: "never_public".into(),
            reason: "public, but never allowed public".into(),
            process: Some(Some(report::Process {
                pid: 1,
                command: "postgres".into(),
                uid: 0,
            })),
            nat_rule: None,
            source: None,
            interface: None,
            message: String::new(),
        };
        assert_eq!(
            f.words(),
            "tcp/5432 on 0.0.0.0 (wildcard, listen, postgres): public, but never allowed public"
        );
    }
}
