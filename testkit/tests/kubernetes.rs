//! The Kubernetes manifests (`scripts/kubernetes/`, #14): every resource valid against the
//! Kubernetes API schemas offline (kubernetes-validate, strict: no unknown field), and what
//! no schema there covers checked for what it must say: the kustomization names every
//! file, the ServiceMonitor finds the Service's port, every Secret and ConfigMap a pod
//! reads is one the README tells the operator to create or the manifests define, no
//! Secret is committed, and the PrometheusRule is the promtool-checked rule file
//! (ops-status/tests/monitoring.rs).

use std::process::Command;

fn dir() -> std::path::PathBuf {
    testkit::workspace_root().join("scripts/kubernetes")
}

#[test]
fn every_resource_is_valid_for_the_kubernetes_api() {
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    let validate = std::path::Path::new(&testkit::python()).with_file_name("kubernetes-validate");
    for version in ["1.30.0", "1.33.0"] {
        let out = Command::new(&validate)
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate (PyPI, installed by scripts/py-tools.sh)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{version}:\n{text}");
        // Only the custom resources have no schema there; they are checked below.
        for line in text.lines().filter(|l| !l.starts_with("INFO")) {
            assert!(
                ["Kustomization", "PrometheusRule", "ServiceMonitor"]
                    .iter()
                    .any(|k| line.contains(&format!("schema for kind {k} "))),
                "{version}: {line}"
            );
        }
        assert!(
            text.matches(" passed for resource ").count() >= 13,
            "{text}"
        );
    }
}

#[test]
fn what_no_schema_covers_is_consistent() {
    let check = r#"
import sys, os, glob, yaml, re
d = sys.argv[1]
docs = {}
for f in sorted(glob.glob(os.path.join(d, "*.yaml"))):
    for doc in yaml.safe_load_all(open(f)):
        if doc:
            docs.setdefault(os.path.basename(f), []).append(doc)
every = [x for ds in docs.values() for x in ds]
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
    let out = Command::new(testkit::python())
        .args(["-c", check])
        .arg(dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
