"""Every manifest, and the rendered example overlay, against the published schemas; the
Deployment's invariants; cert-manager resources generated from the plugins config."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import DEPLOY, OVERLAY, ROOT, kustomize
from schemas import SchemaError, validate

# Files that are not complete Kubernetes objects: kustomizations, plugwire/ContextForge
# configs, a strategic-merge patch, the plain Prometheus rules file.
NOT_OBJECTS = {"kustomization.yaml", "gateway-mtls-patch.yaml", "prometheus-rules.yaml"}


def manifest_files() -> list[Path]:
    return sorted(
        p
        for p in DEPLOY.rglob("*.yaml")
        if p.name not in NOT_OBJECTS and not p.name.startswith("plugins")
    )


def test_the_manifest_list_is_not_empty():
    names = {p.name for p in manifest_files()}
    assert {"deployment.yaml", "service.yaml", "pdb.yaml", "cert-manager.yaml", "prometheusrule.yaml"} <= names


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_file_validates(path: Path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path} holds no object"
    for doc in docs:
        validate(doc, str(path.relative_to(ROOT)))


def test_rendered_overlay_validates(rendered):
    kinds = sorted({d["kind"] for d in rendered})
    assert kinds == [
        "Certificate", "ConfigMap", "Deployment", "Issuer", "Namespace", "PodDisruptionBudget",
        "PodMonitor", "PrometheusRule", "Service", "ServiceAccount",
    ]
    for doc in rendered:
        validate(doc, "overlays/example (rendered)")
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "mcp", doc["metadata"]


def test_base_renders_and_validates():
    for doc in kustomize(DEPLOY / "base"):
        validate(doc, "base (rendered)")


def test_a_misspelt_field_is_refused():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(SchemaError, match="portz"):
        validate(bad, "test")
    cert = yaml.safe_load((DEPLOY / "cert-manager" / "cert-manager.yaml").read_text().split("---\n")[2])
    assert cert["kind"] == "Certificate"
    cert["spec"]["renewBefor"] = "720h"
    with pytest.raises(SchemaError, match="renewBefor"):
        validate(cert, "test")
    cert["spec"].pop("renewBefor")
    cert["spec"]["privateKey"]["rotationPolicy"] = "Sometimes"
    with pytest.raises(SchemaError, match="rotationPolicy"):
        validate(cert, "test")


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def plugin_deployments(rendered) -> dict[str, dict]:
    return {n: d for n, d in by_kind(rendered, "Deployment").items() if n.startswith("mcp-plugin-")}


def test_plugin_deployments_are_safe_to_roll_and_hardened(rendered):
    deployments = plugin_deployments(rendered)
    assert set(deployments) == {"mcp-plugin-replacebadwordsplugin", "mcp-plugin-denylistplugin"}
    for name, dep in deployments.items():
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert spec["replicas"] >= 2
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        # Under TLS the plain health server is on port + 1000; both probes use it.
        assert ports["https"] == int(env["PLUGINS_SERVER_PORT"])
        assert ports["health"] == ports["https"] + 1000
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "health"}
        # preStop, then up to 30 s of drain after SIGTERM, must fit the grace period.
        assert pod["terminationGracePeriodSeconds"] >= container["lifecycle"]["preStop"]["sleep"]["seconds"] + 30
        sc, psc = container["securityContext"], pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
        # The TLS variables point into the Secret volume, at cert-manager's key names.
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        tls_dir = mounts["tls"]
        assert env["PLUGINS_SERVER_SSL_CERTFILE"] == f"{tls_dir}/tls.crt"
        assert env["PLUGINS_SERVER_SSL_KEYFILE"] == f"{tls_dir}/tls.key"
        assert env["PLUGINS_SERVER_SSL_CA_CERTS"] == f"{tls_dir}/ca.crt"
        assert env["PLUGINS_SERVER_SSL_CERT_REQS"] == "2"
        assert volumes["tls"]["secret"]["secretName"] == f"{name}-tls"
        assert container["args"] == ["serve", "--config", f"{mounts['config']}/plugins.yaml"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_services_and_budgets_select_exactly_their_own_pods(rendered):
    deployments = plugin_deployments(rendered)
    services, pdbs = by_kind(rendered, "Service"), by_kind(rendered, "PodDisruptionBudget")
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        for other_name, other in deployments.items():
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert selects(services[name]["spec"]["selector"], other_labels) == (other_name == name)
            assert selects(pdbs[name]["spec"]["selector"]["matchLabels"], other_labels) == (other_name == name)
        assert selects(services[name]["spec"]["selector"], labels)
        assert services[name]["spec"]["ports"] == [{"name": "https", "port": 8000, "targetPort": "https", "protocol": "TCP"}]


def cli(plugwire: Path, *args: str) -> str:
    done = subprocess.run([str(plugwire), *args], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, f"plugwire {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_committed_cert_manager_yaml_is_generated_from_the_plugins_config(plugwire):
    generated = cli(plugwire, "certs", "cert-manager", "--config", "plugins/external/config.yaml", "--namespace", "mcp")
    committed = (DEPLOY / "cert-manager" / "cert-manager.yaml").read_text()
    assert generated == committed, "deploy/kubernetes/cert-manager/cert-manager.yaml is stale: run make certs-mcp-k8s"


def test_certificates_cover_exactly_the_external_plugins_of_a_config(plugwire, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "plugins:\n"
        "  - {name: Zeta_Plugin, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://z:8000/mcp'}}\n"
        "  - {name: LocalOne, kind: plugins.regex_filter.search_replace.SearchReplacePlugin}\n"
        "  - {name: alpha.v2, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://a:8000/mcp'}}\n"
        "  - {name: Beta, kind: external, mcp: {proto: STREAMABLEHTTP, url: 'https://b:8000/mcp'}}\n"
    )
    out = cli(plugwire, "certs", "cert-manager", "--config", str(config), "--namespace", "team-a",
              "--issuer", "team-ca", "--key-type", "ecdsa-p256", "--gateway-uri", "spiffe://cluster.local/ns/team-a/sa/gw")
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        validate(doc, "plugwire certs cert-manager")
    certs = [d for d in docs if d["kind"] == "Certificate"]
    plugins = [c for c in certs if "plugwire.dev/plugin-name" in c["metadata"].get("annotations", {})]
    assert [c["metadata"]["annotations"]["plugwire.dev/plugin-name"] for c in plugins] == ["Zeta_Plugin", "alpha.v2", "Beta"]
    assert [c["metadata"]["name"] for c in plugins] == [
        "mcp-plugin-zeta-plugin", "mcp-plugin-alpha-v2", "mcp-plugin-beta"]
    for c in plugins:
        svc = c["metadata"]["name"]
        assert f"{svc}.team-a.svc" in c["spec"]["dnsNames"]
        assert c["spec"]["usages"] == ["server auth", "digital signature"]
        assert c["spec"]["issuerRef"]["name"] == "team-ca"
        assert c["spec"]["privateKey"]["algorithm"] == "ECDSA"
    gateway = next(c for c in certs if c["metadata"]["name"] == "mcp-gateway-client")
    assert gateway["spec"]["uris"] == ["spiffe://cluster.local/ns/team-a/sa/gw"]
    assert gateway["spec"]["usages"] == ["client auth", "digital signature"]
    # Bad input names the option and fails.
    done = subprocess.run([str(plugwire), "certs", "cert-manager", "--config", str(config), "--namespace", "Team_A"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "--namespace" in done.stderr and done.stdout == ""


def test_gateway_urls_and_mtls_variables_match_the_certificates(rendered):
    certs = by_kind(rendered, "Certificate")
    gateway_cm = next(d for n, d in by_kind(rendered, "ConfigMap").items() if n.startswith("mcp-gateway-plugins"))
    config = yaml.safe_load(gateway_cm["data"]["config.yaml"])
    services = by_kind(rendered, "Service")
    for entry in config["plugins"]:
        assert "tls" not in entry["mcp"], "ContextForge ignores PLUGINS_CLIENT_MTLS_* when mcp.tls is set"
        url = urlparse(entry["mcp"]["url"])
        svc = url.hostname.split(".")[0]
        assert svc in services and url.port == services[svc]["spec"]["ports"][0]["port"]
        cert = certs[svc]
        assert cert["metadata"]["annotations"]["plugwire.dev/plugin-name"] == entry["name"]
        assert url.hostname in cert["spec"]["dnsNames"]
    gw = by_kind(rendered, "Deployment")["mcpgateway"]["spec"]["template"]["spec"]
    (container,) = gw["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in gw["volumes"]}
    assert volumes["mcp-gateway-mtls"]["secret"]["secretName"] == certs["mcp-gateway-client"]["spec"]["secretName"]
    mtls = mounts["mcp-gateway-mtls"]
    assert env["PLUGINS_CLIENT_MTLS_CERTFILE"] == f"{mtls}/tls.crt"
    assert env["PLUGINS_CLIENT_MTLS_KEYFILE"] == f"{mtls}/tls.key"
    assert env["PLUGINS_CLIENT_MTLS_CA_BUNDLE"] == f"{mtls}/ca.crt"
    assert env["PLUGINS_CONFIG_FILE"] == f"{mounts['mcp-plugins-config']}/config.yaml"
    # Every plugin server's Secret is written by a Certificate of the same issuer chain.
    for name, dep in plugin_deployments(rendered).items():
        secret = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")["secret"]["secretName"]
        assert certs[name]["spec"]["secretName"] == secret
        assert certs[name]["spec"]["issuerRef"]["name"] in by_kind(rendered, "Issuer")


def test_example_plugin_servers_serve_the_plugins_their_certificates_name(rendered):
    certs = by_kind(rendered, "Certificate")
    for name, dep in plugin_deployments(rendered).items():
        cm_name = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")["configMap"]["name"]
        cm = by_kind(rendered, "ConfigMap")[cm_name]
        served = [p["name"] for p in yaml.safe_load(cm["data"]["plugins.yaml"])["plugins"]]
        assert served == [certs[name]["metadata"]["annotations"]["plugwire.dev/plugin-name"]]

