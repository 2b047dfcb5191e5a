"""What deploy/ holds matches the code: every setting a manifest names exists, every port is the service's own,
the probes, secrets, replicas and public routes are the ones the operations guide promises."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import DEFAULT_PORTS, SERVICES, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
SECRETS = {"TERMINARZ_SECRET_KEY", "TERMINARZ_INTERNAL_TOKEN", "TERMINARZ_DATABASE_URL", "TERMINARZ_AMQP_URL"}


def setting_exists(env_name: str) -> bool:
    return env_name.startswith("TERMINARZ_") and env_name.removeprefix("TERMINARZ_").lower() in Settings.model_fields


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, and commented-out `# KEY=` lines (optional settings the file offers)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^#?\s*(TERMINARZ_[A-Z0-9_]+)=(.*)$", line)
        if match:
            found[match[1]] = match[2]
    return found


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def kind(docs: dict[tuple[str, str], dict[str, Any]], wanted: str) -> dict[str, dict[str, Any]]:
    return {name: doc for (k, name), doc in docs.items() if k == wanted}


def test_every_manifest_is_listed_and_parses() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")
    docs = documents()
    assert set(kind(docs, "Deployment")) == set(kind(docs, "Service")) == set(SERVICES)
    assert set(kind(docs, "Job")) == {"terminarz-migrate"}
    assert set(kind(docs, "Ingress")) == {"terminarz"}


def test_every_setting_named_in_deploy_exists_in_the_settings_model() -> None:
    config, secrets = env_file(K8S / "config.env"), env_file(K8S / "secrets.env.example")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["x-terminarz"]["environment"]
    dockerfile = re.findall(r"\b(TERMINARZ_[A-Z0-9_]+)=", (DEPLOY / "Dockerfile").read_text())
    for source, names in (("config.env", config), ("secrets.env.example", secrets), ("compose.yaml", compose),
                          ("Dockerfile", dockerfile)):
        unknown = sorted(n for n in names if not setting_exists(n))
        assert unknown == [], f"{source} names settings the code does not have: {unknown}"
    # The secrets come from the Secret only, with no value given anywhere in the repository.
    assert set(secrets) >= SECRETS and not SECRETS & set(config)
    assert all(secrets[name] == "" for name in SECRETS)


def test_each_service_listens_where_the_others_look_for_it() -> None:
    docs = documents()
    config = env_file(K8S / "config.env")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    generated = {g["name"] for g in kustomization["configMapGenerator"] + kustomization["secretGenerator"]}
    for name, deployment in kind(docs, "Deployment").items():
        port = DEFAULT_PORTS[name]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["serve", name, "--port", str(port)]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == generated == {"terminarz-config", "terminarz-secrets"}
        service = kind(docs, "Service")[name]
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        if name != "gateway":
            assert config[f"TERMINARZ_{name.upper()}_URL"] == f"http://{name}:{port}"
    job = kind(docs, "Job")["terminarz-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["db", "upgrade"]


def test_replicas_where_safe_and_one_planner() -> None:
    replicas = {name: d["spec"]["replicas"] for name, d in kind(documents(), "Deployment").items()}
    assert replicas["scheduler"] == 1
    assert all(replicas[s] >= 2 for s in ("gateway", "contracts", "cases", "notifier"))


def test_only_the_gateway_and_the_confirmation_route_are_public() -> None:
    [ingress] = kind(documents(), "Ingress").values()
    routes = {(p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
              for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert routes == {("/", "gateway", "http"), ("/confirm/", "notifier", "http")}


def test_kustomize_builds_with_the_secrets_filled_in(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests were checked one by one above, not built")
    build = tmp_path / "k8s"
    shutil.copytree(K8S, build)
    (build / "secrets.env").write_text("".join(f"{name}=value\n" for name in sorted(SECRETS)))
    result = subprocess.run([kubectl, "kustomize", str(build)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = list(yaml.safe_load_all(result.stdout))
    assert {d["kind"] for d in built} == {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "Job",
                                          "Ingress"}
    secret = next(d for d in built if d["kind"] == "Secret")
    assert set(secret["data"]) == SECRETS

    (build / "secrets.env").unlink()  # no secrets, no build: nothing starts with a default key
    assert subprocess.run([kubectl, "kustomize", str(build)], capture_output=True, timeout=60).returncode != 0


def test_the_dashboard_queries_only_series_the_services_expose() -> None:
    from services.common.metrics import Metrics

    exposed = {name for metric in Metrics().registry.collect() for name in (metric.name, f"{metric.name}_total")}
    sources = (DEPLOY.parent / "services").glob("*/service.py")
    exposed |= {m for path in sources for m in re.findall(r'metrics\.gauge\("(terminarz_\w+)"', path.read_text())}
    dashboard = json.loads((DEPLOY / "grafana" / "terminarz.json").read_text())
    queried = {re.sub(r"_(bucket|count|sum)$", "", name)
               for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bterminarz_\w+", target["expr"])}
    assert queried - exposed == set()
    assert {"terminarz_outbox_backlog", "terminarz_cases", "terminarz_mails", "terminarz_dead_lettered_messages",
            "terminarz_http_request_duration_seconds", "terminarz_message_handler_seconds"} <= queried
