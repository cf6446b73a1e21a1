//! The Kubernetes manifests (`scripts/kubernetes/`, #14, #28): the base and the platform
//! overlay rendered by kubectl's kustomize (the same as `kubectl apply -k`), every resource
//! of each valid against the Kubernetes API schemas offline (kubernetes-validate, strict:
//! no unknown field), and what no schema there covers checked for what it must say: the
//! kustomization names every file, the ServiceMonitor finds the Service's port, every
//! Secret and ConfigMap a pod reads is one the README tells the operator to create or the
//! manifests define, no Secret is committed, the PrometheusRule is the promtool-checked
//! rule file (ops-status/tests/monitoring.rs), and the overlay deploys pgops as the
//! platform names things (namespaces, the database service, labels) and changes nothing
//! else.

use std::path::PathBuf;
use std::process::Command;

fn dir() -> PathBuf {
    testkit::workspace_root().join("scripts/kubernetes")
}

/// `kubectl kustomize scripts/kubernetes/<which>` (kubectl from PyPI, installed by
/// scripts/py-tools.sh), written to a file in `out`.
fn render(which: &str, out: &std::path::Path) -> PathBuf {
    let rendered = Command::new(testkit::venv_bin("kubectl"))
        .arg("kustomize")
        .arg(dir().join(which))
        .output()
        .expect("kubectl (PyPI, installed by scripts/py-tools.sh)");
    assert!(
        rendered.status.success(),
        "{which}: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let path = out.join(format!("{}.yaml", which.replace('/', "-")));
    std::fs::write(&path, &rendered.stdout).unwrap();
    path
}

#[test]
fn every_resource_is_valid_for_the_kubernetes_api() {
    let tmp = tempfile::tempdir().unwrap();
    let rendered = [
        ("base", render("base", tmp.path()), 16),
        (
            "overlays/platform",
            render("overlays/platform", tmp.path()),
            15,
        ),
    ];
    for version in ["1.30.0", "1.33.0"] {
        for (which, file, resources) in &rendered {
            let out = Command::new(testkit::venv_bin("kubernetes-validate"))
                .args(["--strict", "-k", version])
                .arg(file)
                .output()
                .expect("kubernetes-validate (PyPI, installed by scripts/py-tools.sh)");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{which} on {version}:\n{text}");
            // Only the custom resources have no schema there; they are checked below.
            for line in text.lines().filter(|l| !l.starts_with("INFO")) {
                assert!(
                    ["PrometheusRule", "ServiceMonitor"]
                        .iter()
                        .any(|k| line.contains(&format!("schema for kind {k} "))),
                    "{which} on {version}: {line}"
                );
            }
            assert!(
                text.matches(" passed for resource ").count() >= *resources,
                "{which}: {text}"
            );
        }
    }
}

#[test]
fn what_no_schema_covers_is_consistent() {
    let check = r#"
import sys, os, glob, yaml, re
d, rendered = sys.argv[1], sys.argv[2]
docs = {}
for f in sorted(glob.glob(os.path.join(d, "base", "*.yaml"))):
    for doc in yaml.safe_load_all(open(f)):
        if doc:
            docs.setdefault(os.path.basename(f), []).append(doc)
# What is applied: the rendered kustomization (base or overlay).
every = [x for x in yaml.safe_load_all(open(rendered)) if x]
kust = docs["kustomization.yaml"][0]
listed = set(kust["resources"])
files = set(docs) - {"kustomization.yaml"}
assert listed == files, f"kustomization resources {sorted(listed)} != files {sorted(files)}"
assert not [x for x in every if x["kind"] == "Secret"], "no Secret is committed"
readme = open(os.path.join(d, "README.md")).read()
pods = []
for x in every:
    if x["kind"] == "CronJob":
        pods.append(x["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    elif x["kind"] == "Deployment":
        pods.append(x["spec"]["template"]["spec"])
assert len(pods) >= 8, len(pods)
configmaps = {x["metadata"]["name"]: x for x in every if x["kind"] == "ConfigMap"}
claims = {x["metadata"]["name"] for x in every if x["kind"] == "PersistentVolumeClaim"}
secrets = set()
for p in pods:
    sc = p["securityContext"]
    assert sc["runAsNonRoot"] and sc["seccompProfile"]["type"] == "RuntimeDefault", sc
    assert p.get("automountServiceAccountToken") is False
    for v in p.get("volumes", []):
        if "secret" in v: secrets.add(v["secret"]["secretName"])
        if "persistentVolumeClaim" in v: assert v["persistentVolumeClaim"]["claimName"] in claims
    for c in p["containers"]:
        csc = c["securityContext"]
        assert csc["readOnlyRootFilesystem"] and not csc["allowPrivilegeEscalation"], c["name"]
        assert csc["capabilities"]["drop"] == ["ALL"], c["name"]
        for e in c.get("envFrom", []):
            assert e["configMapRef"]["name"] in configmaps
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref: secrets.add(ref["name"])
        # Secrets never in a command line or a ConfigMap value.
        assert "PASSWORD" not in " ".join(c.get("command", []) + c.get("args", []))
for name in secrets:
    assert f"`{name}`" in readme, f"Secret {name} is not in README.md"
for cm in configmaps.values():
    for k in cm["data"]:
        assert not re.search(r"PASSWORD|SECRET|TOKEN", k), f"{k} belongs in a Secret"
svc = [x for x in every if x["kind"] == "Service"][0]
sm = [x for x in every if x["kind"] == "ServiceMonitor"][0]
assert all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
ports = {p["name"] for p in svc["spec"]["ports"]}
for ep in sm["spec"]["endpoints"]:
    assert ep["port"] in ports and ep["path"] == "/metrics"
    assert ep["bearerTokenSecret"]["name"] in secrets
rule = [x for x in every if x["kind"] == "PrometheusRule"][0]
plain = yaml.safe_load(open(os.path.join(d, "..", "prometheus", "pgops-alerts.yaml")))
assert rule["spec"] == plain, "run scripts/prometheus/sync"
print(len(every), "resources,", len(pods), "pods,", len(secrets), "secrets")
"#;
    let tmp = tempfile::tempdir().unwrap();
    for which in ["base", "overlays/platform"] {
        let rendered = render(which, tmp.path());
        testkit::python_check(check, &[&dir(), &rendered]);
    }
}

/// The platform overlay (ADR 0029): pgops beside `postgres-prod` in `platform-data`, no
/// namespace of its own, scraped from `platform-monitoring` only, the jobs reaching only the
/// `postgres-prod` pods on 5432 and checking its certificate against the chart's CA, the
/// platform's label on every resource and pod; and nothing else changed from the base.
#[test]
fn the_platform_overlay_deploys_as_the_platform_names_it() {
    let check = r#"
import sys, yaml
base = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
over = [x for x in yaml.safe_load_all(open(sys.argv[2])) if x]
key = lambda x: (x["kind"], x["metadata"]["name"])
assert not [x for x in over if x["kind"] == "Namespace"], "the platform owns its namespaces"
assert sorted(map(key, over)) == sorted(key(x) for x in base if x["kind"] != "Namespace")
for x in over:
    md = x["metadata"]
    assert md["namespace"] == "platform-data", key(x)
    assert md["labels"]["app.kubernetes.io/part-of"] == "platform", key(x)
    assert md["labels"]["app.kubernetes.io/name"] == "pgops", key(x)
cm = [x for x in over if key(x) == ("ConfigMap", "pgops-env")][0]["data"]
assert cm["PGHOST"] == "postgres-prod-postgresql.platform-data.svc.cluster.local", cm["PGHOST"]
assert cm["PGPORT"] == "5432" and cm["PGSSLMODE"] == "verify-full"
np = [x for x in over if key(x) == ("NetworkPolicy", "pgops")][0]["spec"]
sources = [f for rule in np["ingress"] for f in rule["from"]]
assert sources == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "platform-monitoring"}}}], sources
to_pg = [r for r in np["egress"] if any(p["port"] == 5432 for p in r["ports"])]
assert len(to_pg) == 1 and to_pg[0]["to"] == [{"podSelector": {"matchLabels": {
    "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "postgres-prod"}}}], to_pg
def pod(x):
    if x["kind"] == "CronJob": return x["spec"]["jobTemplate"]["spec"]["template"]
    if x["kind"] == "Deployment": return x["spec"]["template"]
bases = {key(x): x for x in base}
connecting = 0
for x in over:
    p = pod(x)
    if p is None: continue
    assert p["metadata"]["labels"]["app.kubernetes.io/part-of"] == "platform", key(x)
    b = pod(bases[key(x)])
    for v in p["spec"].get("volumes", []):
        if v["name"] == "tls":
            connecting += 1
            assert v["secret"]["secretName"] == "postgres-prod-postgresql-crt", key(x)
    assert all(v.get("secret", {}).get("secretName") != "pgops-ca" for v in p["spec"]["volumes"]), key(x)
    # Same schedule, same commands, same mounts: the overlay changes where, not what.
    if x["kind"] == "CronJob":
        assert x["spec"]["schedule"] == bases[key(x)]["spec"]["schedule"], key(x)
    assert p["spec"]["containers"] == b["spec"]["containers"], key(x)
    assert sorted(v["name"] for v in p["spec"]["volumes"]) == sorted(v["name"] for v in b["spec"]["volumes"]), key(x)
assert connecting == 7, connecting
for kind in ["ServiceMonitor", "PrometheusRule"]:
    x = [x for x in over if x["kind"] == kind][0]
    assert x["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
print("overlay ok:", len(over), "resources")
"#;
    let tmp = tempfile::tempdir().unwrap();
    let base = render("base", tmp.path());
    let overlay = render("overlays/platform", tmp.path());
    testkit::python_check(check, &[&base, &overlay]);
}
