//! Command-line flags.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Shown after the flags in `--help`.
const EXAMPLES: &str = "Examples:
  sudo port-audit                                             sockets and NAT rules of this host
  port-audit --no-sockets --no-rules --probe 203.0.113.10     from outside
  port-audit --policy /etc/pgops/exposure.json | jq 'select(.verdict == \"violation\")'";

/// Prove that only the allowed ports are public and PostgreSQL never is.
///
/// Three sources of evidence: the host's listening sockets (/proc/net), the NAT rules that
/// forward traffic (iptables-save, nft: NodePorts, hostports, Docker), and, with --probe, a
/// TCP connect scan and UDP probes of an address. Scan only hosts you operate.
///
/// JSON lines on stdout: one audit.finding per socket, rule or probed port, audit.summary,
/// run.finished. Exit 0 clean, 1 violations, 2 invalid invocation, 3 incomplete (a /proc
/// entry or the ruleset could not be read): an incomplete audit never passes as clean.
#[derive(Debug, Clone, Parser)]
#[command(name = "port-audit", version = ops_core::cli::VERSION, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub human: ops_core::human::HumanArgs,
    /// Do not read the host's sockets.
    #[arg(long)]
    pub no_sockets: bool,
    /// Do not read the NAT rules.
    #[arg(long)]
    pub no_rules: bool,
    /// Probe this address from here (repeatable). Only your own hosts.
    #[arg(long, value_name = "HOST")]
    pub probe: Vec<std::net::IpAddr>,
    /// Ports to probe.
    #[arg(
        long,
        default_value = "tcp/1-65535,udp/51820,udp/8472",
        value_name = "LIST",
        value_parser = crate::policy::ports_arg
    )]
    pub ports: crate::policy::PortList,
    /// Ports allowed to be public.
    #[arg(long, default_value = crate::policy::DEFAULT_ALLOW, value_name = "LIST", value_parser = crate::policy::policy_arg)]
    pub allow: crate::policy::PortList,
    /// Ports that must never be public.
    #[arg(long, default_value = crate::policy::DEFAULT_NEVER_PUBLIC, value_name = "LIST", value_parser = crate::policy::policy_arg)]
    pub never_public: crate::policy::PortList,
    /// A JSON policy file {"allow": [...], "never_public": [...]} (overrides the flags).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Private interfaces (patterns; repeatable).
    #[arg(
        long = "private-interface",
        default_value = "wg*",
        value_name = "PATTERN"
    )]
    pub private_interfaces: Vec<String>,
    /// How long a probe waits for an answer.
    #[arg(long, value_parser = ops_core::duration::parse, default_value = "1s", value_name = "DURATION")]
    pub probe_timeout: Duration,
    /// TCP probes in flight at once (unanswered SYNs, or connects).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub probe_concurrency: u16,
    /// How TCP ports are probed: `syn` (a raw socket, as nmap -sS; needs CAP_NET_RAW),
    /// `connect` (a full connect per port, as nmap -sT), or `auto` (syn when permitted).
    #[arg(long, value_enum, default_value = "auto", value_name = "METHOD")]
    pub probe_method: ProbeMethod,
    /// iptables-save to run (default: from PATH).
    #[arg(long, value_name = "PATH")]
    pub iptables_save: Option<String>,
    /// ip6tables-save to run (default: from PATH).
    #[arg(long, value_name = "PATH")]
    pub ip6tables_save: Option<String>,
    /// nft to run (default: from PATH).
    #[arg(long, value_name = "PATH")]
    pub nft: Option<String>,
}

/// How TCP ports are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeMethod {
    Auto,
    Syn,
    Connect,
}

impl ops_core::cli::ToolArgs for Args {
    fn human(&self) -> &ops_core::human::HumanArgs {
        &self.human
    }
}
