//! Evidence 2: NAT rules that forward traffic arriving at the host — k3s NodePorts
//! (`KUBE-NODEPORTS`), CNI hostports, Docker's DNAT, hand-written DNAT/REDIRECT — from
//! `iptables-save -t nat`, `ip6tables-save -t nat` and `nft -j list ruleset`. These open
//! ports without any listening socket, so a socket-only audit misses them.

use crate::policy::Proto;
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;

/// A port that a NAT rule exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub proto: Proto,
    pub port: u16,
    /// The destination address the rule is limited to, if any.
    pub address: Option<IpAddr>,
    /// The inbound interface the rule is limited to, if any.
    pub interface: Option<String>,
    /// `iptables`, `ip6tables` or `nft`.
    pub source: &'static str,
    /// The chain and the rule, as the tool printed it (or a summary for nft).
    pub rule: String,
}

/// What one rule matches, in either syntax.
#[derive(Debug, Default)]
struct RuleMatch {
    proto: Option<Proto>,
    dports: Vec<u16>,
    address: Option<IpAddr>,
    interface: Option<String>,
    /// The rule forwards (DNAT, REDIRECT, or a NodePort chain).
    forwards: bool,
}

impl RuleMatch {
    /// One exposure per destination port of a forwarding rule with a known protocol.
    fn exposures(self, source: &'static str, rule: String) -> Vec<Exposure> {
        let Some(proto) = self.proto.filter(|_| self.forwards) else {
            return Vec::new();
        };
        self.dports
            .iter()
            .map(|&port| Exposure {
                proto,
                port,
                address: self.address,
                interface: self.interface.clone(),
                source,
                rule: rule.clone(),
            })
            .collect()
    }
}

/// Chains whose rules see only locally generated or outgoing traffic.
fn local_only(chain: &str) -> bool {
    matches!(
        chain,
        "OUTPUT" | "POSTROUTING" | "KUBE-POSTROUTING" | "DOCKER-OUTPUT"
    )
}

fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `80`, `30000:30005`, `80,443` → ports (ranges capped so a huge range cannot explode).
fn ports(spec: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let range = part.split_once(':').or_else(|| part.split_once('-'));
        match range {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend((a..=b).take(65536));
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// Parses `iptables-save -t nat` output.
pub fn parse_iptables(text: &str, source: &'static str) -> Vec<Exposure> {
    let mut out = Vec::new();
    let mut in_nat = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(table) = line.strip_prefix('*') {
            in_nat = table == "nat";
            continue;
        }
        if !in_nat || !line.starts_with("-A ") {
            continue;
        }
        let t = tokens(line);
        let chain = t.get(1).cloned().unwrap_or_default();
        if local_only(&chain) {
            continue;
        }
        let mut m = RuleMatch::default();
        let mut target = String::new();
        let mut i = 2;
        while i < t.len() {
            let negated = i > 0 && t[i - 1] == "!";
            let next = t.get(i + 1).map(String::as_str).unwrap_or("");
            match t[i].as_str() {
                "-p" | "--protocol" => m.proto = Proto::from_name(next),
                "--dport" | "--dports" | "--destination-port" | "--destination-ports"
                    if !negated =>
                {
                    m.dports = ports(next)
                }
                "-d" | "--destination" if !negated => {
                    m.address = next.split('/').next().and_then(|a| a.parse().ok())
                }
                "-i" | "--in-interface" if !negated => m.interface = Some(next.to_string()),
                "-j" | "--jump" => target = next.to_string(),
                _ => {}
            }
            i += 1;
        }
        m.forwards = target == "DNAT" || target == "REDIRECT" || chain == "KUBE-NODEPORTS";
        out.extend(m.exposures(source, line.to_string()));
    }
    out
}

fn nft_ports(v: &Value) -> Vec<u16> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .into_iter()
            .collect(),
        Value::Object(o) if o.contains_key("set") => o["set"]
            .as_array()
            .map(|a| a.iter().flat_map(nft_ports).collect())
            .unwrap_or_default(),
        Value::Object(o) if o.contains_key("range") => {
            let r = &o["range"];
            match (r[0].as_u64(), r[1].as_u64()) {
                (Some(a), Some(b)) => (a.min(65535) as u16..=b.min(65535) as u16).collect(),
                _ => Vec::new(),
            }
        }
        Value::Array(a) => a.iter().flat_map(nft_ports).collect(),
        _ => Vec::new(),
    }
}

/// Parses `nft -j list ruleset`.
pub fn parse_nft(json: &Value) -> Vec<Exposure> {
    let items = json["nftables"].as_array().cloned().unwrap_or_default();
    let hook_of = |family: &str, table: &str, chain: &str| -> Option<String> {
        items.iter().find_map(|it| {
            let c = &it["chain"];
            (c["family"] == family && c["table"] == table && c["name"] == chain)
                .then(|| c["hook"].as_str().unwrap_or("").to_string())
        })
    };
    let mut out = Vec::new();
    for it in &items {
        let r = &it["rule"];
        if r.is_null() {
            continue;
        }
        let (family, table, chain) = (
            r["family"].as_str().unwrap_or(""),
            r["table"].as_str().unwrap_or(""),
            r["chain"].as_str().unwrap_or(""),
        );
        let hook = hook_of(family, table, chain).unwrap_or_default();
        if hook == "output" || hook == "postrouting" || local_only(chain) {
            continue;
        }
        let exprs = r["expr"].as_array().cloned().unwrap_or_default();
        let mut m = RuleMatch {
            forwards: chain == "KUBE-NODEPORTS",
            ..RuleMatch::default()
        };
        for e in &exprs {
            if e.get("dnat").is_some() || e.get("redirect").is_some() {
                m.forwards = true;
            }
            let matched = &e["match"];
            if matched.is_null() || !(matched["op"] == "==" || matched["op"] == "in") {
                continue;
            }
            let (left, right) = (&matched["left"], &matched["right"]);
            let payload = &left["payload"];
            match (payload["protocol"].as_str(), payload["field"].as_str()) {
                // `th dport` leaves the protocol to an l4proto match.
                (Some(p @ ("tcp" | "udp" | "th")), Some("dport")) => {
                    m.proto = Proto::from_name(p).or(m.proto);
                    m.dports = nft_ports(right);
                }
                (Some("ip" | "ip6"), Some("daddr")) => {
                    m.address = right.as_str().and_then(|a| a.parse().ok())
                }
                _ => {}
            }
            match left["meta"]["key"].as_str() {
                Some("l4proto") => m.proto = right.as_str().and_then(Proto::from_name).or(m.proto),
                Some("iifname" | "iif") => m.interface = right.as_str().map(str::to_string),
                _ => {}
            }
        }
        let rule = format!("{family} {table} {chain} (handle {})", r["handle"]);
        out.extend(m.exposures("nft", rule));
    }
    out
}

/// What reading the rules produced.
#[derive(Debug, Default)]
pub struct Rules {
    pub exposures: Vec<Exposure>,
    /// Why the rule evidence is incomplete, if it is.
    pub incomplete: Vec<String>,
    /// Which tools were read.
    pub sources: Vec<String>,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads every available ruleset. With neither tool installed, or a tool that fails, the
/// evidence is incomplete: an unreadable ruleset never passes as clean.
pub fn read_rules(
    iptables_save: Option<&str>,
    ip6tables_save: Option<&str>,
    nft: Option<&str>,
) -> Rules {
    let mut rules = Rules::default();
    if iptables_save.is_none() && nft.is_none() {
        rules
            .incomplete
            .push("neither nft nor iptables-save is installed: NAT rules cannot be read".into());
    }
    for (tool, source) in [(iptables_save, "iptables"), (ip6tables_save, "ip6tables")] {
        if let Some(tool) = tool {
            match run(tool, &["-t", "nat"]) {
                Ok(text) => {
                    rules.exposures.extend(parse_iptables(&text, source));
                    rules.sources.push(source.into());
                }
                Err(e) => rules.incomplete.push(e),
            }
        }
    }
    if let Some(nft) = nft {
        match run(nft, &["-j", "list", "ruleset"])
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("nft -j: {e}")))
        {
            Ok(json) => {
                rules.exposures.extend(parse_nft(&json));
                rules.sources.push("nft".into());
            }
            Err(e) => rules.incomplete.push(e),
        }
    }
    // iptables-nft rules show in both views: one finding per exposure.
    let mut seen = std::collections::HashSet::new();
    rules
        .exposures
        .retain(|e| seen.insert((e.proto, e.port, e.address, e.interface.clone())));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"# Generated by iptables-save
*filter
-A INPUT -p tcp -m tcp --dport 9999 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 5433 -j DNAT --to-destination 10.99.0.2:5432
-A OUTPUT -p tcp -m tcp --dport 7777 -j DNAT --to-destination 10.0.0.1:1
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-EXT-ABC
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A CNI-DN-1 -i wg0 -p udp -m multiport --dports 53,5353 -j DNAT --to-destination 10.42.0.5
COMMIT
"#;

    #[test]
    fn iptables_save() {
        let e = parse_iptables(SAVE, "iptables");
        let got: Vec<(Proto, u16, Option<String>, Option<String>)> = e
            .iter()
            .map(|x| {
                (
                    x.proto,
                    x.port,
                    x.address.map(|a| a.to_string()),
                    x.interface.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Proto::Tcp, 5433, Some("198.51.100.1".into()), None),
                (Proto::Tcp, 30080, None, None),
                (Proto::Tcp, 8080, None, None),
                (Proto::Udp, 53, None, Some("wg0".into())),
                (Proto::Udp, 5353, None, Some("wg0".into())),
            ]
        );
    }

    #[test]
    fn nft_json() {
        let json: Value = serde_json::from_str(r#"{"nftables":[
          {"chain":{"family":"ip","table":"t","name":"pre","hook":"prerouting","type":"nat"}},
          {"chain":{"family":"ip","table":"t","name":"out","hook":"output","type":"nat"}},
          {"rule":{"family":"ip","table":"t","chain":"pre","handle":3,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":5433}},
            {"dnat":{"addr":"10.99.0.2","port":5432}}]}},
          {"rule":{"family":"ip","table":"t","chain":"pre","handle":4,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"udp"}},
            {"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":{"set":[8472,{"range":[9000,9001]}]}}},
            {"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"198.51.100.1"}},
            {"redirect":{"port":1}}]}},
          {"rule":{"family":"ip","table":"t","chain":"pre","handle":5,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":22}},{"accept":null}]}},
          {"rule":{"family":"ip","table":"t","chain":"out","handle":6,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":7777}},{"dnat":{"addr":"1.2.3.4"}}]}}
        ]}"#).unwrap();
        let e = parse_nft(&json);
        let got: Vec<(Proto, u16)> = e.iter().map(|x| (x.proto, x.port)).collect();
        assert_eq!(
            got,
            vec![
                (Proto::Tcp, 5433),
                (Proto::Udp, 8472),
                (Proto::Udp, 9000),
                (Proto::Udp, 9001)
            ]
        );
        assert_eq!(e[1].address, Some("198.51.100.1".parse().unwrap()));
    }
}
