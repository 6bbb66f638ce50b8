"""The deployment files come from the registry (scripts/lib/deploy.py): a service added to
the registry gets its compose and k8s entries with no other edit, the output is the same
on every run, and `--check` notices a hand edit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mss_settings.registry import REGISTRY_FILE, ROOT, parse

DEPLOY = ROOT / "scripts" / "lib" / "deploy.py"
NEW_SERVICE = """
[[service]]
name = "ticketing"
schema = "tickets"
api_port = 8199
worker_metrics_port = 9199
publishes = true
consumes = true
gateway_prefixes = ["tickets"]
"""


def _load_deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mss_deploy", DEPLOY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mss_deploy", module)
    spec.loader.exec_module(module)
    return module


deploy = _load_deploy()


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """Every deployment file for the registry plus one more service."""
    rendered: dict[str, str] = deploy.render(parse(REGISTRY_FILE.read_text() + NEW_SERVICE))
    return rendered


def _docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_a_new_service_gets_its_api_and_worker_in_compose(files: dict[str, str]) -> None:
    services = yaml.safe_load(files["docker-compose.yml"])["services"]

    api, worker = services["ticketing-api"], services["ticketing-worker"]
    assert api["build"]["args"] == {"SERVICE": "ticketing"}
    assert api["build"]["dockerfile"] == "services/Dockerfile"
    assert api["image"] == worker["image"] == "mss/ticketing:${MSS_IMAGE_TAG:-dev}"
    assert (api["command"], worker["command"]) == (["api"], ["worker"])
    # The shared hardening reaches it through the anchors.
    for process in (api, worker):
        assert process["read_only"] is True
        assert process["cap_drop"] == ["ALL"]
        assert process["security_opt"] == ["no-new-privileges:true"]
        assert process["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        assert process["environment"]["MSS_TRUSTED_PROXIES"] == '["10.231.0.10"]'
    assert worker["healthcheck"] == {"disable": True}
    gateway_env = services["gateway-config"]["environment"]
    assert gateway_env["MSS_TICKETING_UPSTREAM"] == "ticketing-api:8199"
    assert "ticketing-api" in services["gateway"]["depends_on"]
    assert services["gateway-config-prod"]["environment"]["MSS_TICKETING_UPSTREAM"] == (
        "ticketing-api:8199"
    )
    assert "ticketing-api" in services["gateway-prod"]["depends_on"]


def test_compose_has_a_dev_and_a_prod_gateway_and_only_prod_redirects_to_https(
    files: dict[str, str],
) -> None:
    services = yaml.safe_load(files["docker-compose.yml"])["services"]
    dev, prod = services["gateway"], services["gateway-prod"]
    dev_env = services["gateway-config"]["environment"]
    prod_env = services["gateway-config-prod"]["environment"]

    assert services["gateway-config"]["profiles"] == dev["profiles"] == ["dev"]
    assert services["gateway-config-prod"]["profiles"] == prod["profiles"] == ["prod"]
    assert "MSS_GATEWAY_HTTP_REDIRECT" not in dev_env
    assert prod_env["MSS_GATEWAY_HTTP_REDIRECT"] == "1"
    assert prod_env["MSS_GATEWAY_PUBLIC_HTTPS_PORT"] == "${MSS_GATEWAY_PUBLIC_HTTPS_PORT:-8443}"
    # Otherwise the same gateway: upstreams, image, command, ports, address, hardening.
    assert {
        k: v for k, v in prod_env.items() if not k.endswith(("REDIRECT", "PUBLIC_HTTPS_PORT"))
    } == dev_env
    for key in ("image", "entrypoint", "ports", "networks", "user", "read_only", "healthcheck"):
        assert prod[key] == dev[key], key
    assert set(prod["depends_on"]) == set(dev["depends_on"]) - {"gateway-config"} | {
        "gateway-config-prod"
    }
    # A killed nginx's budgets socket is removed before the next one binds.
    assert dev["entrypoint"][-1].startswith("rm -f /etc/mss-gateway/mss-budgets.sock")


def test_every_compose_process_mails_links_to_the_public_https_url(files: dict[str, str]) -> None:
    services = yaml.safe_load(files["docker-compose.yml"])["services"]

    platform = {n: s for n, s in services.items() if "MSS_ENV" in (s.get("environment") or {})}

    assert {"notification-api", "notification-worker", "setup"} <= set(platform)
    for name, service in platform.items():
        assert service["environment"]["MSS_ENV"] == "production", name
        # MSS_ENV=production refuses a public URL that is not https (notification settings).
        assert service["environment"]["MSS_PUBLIC_URL"] == (
            "${MSS_PUBLIC_URL:-https://localhost:8443}"
        ), name


def test_a_new_service_gets_its_deployments_services_hpa_pdb_and_policies(
    files: dict[str, str],
) -> None:
    manifests = {
        (d["kind"], d["metadata"]["name"]): d for d in _docs(files["k8s/base/ticketing.yaml"])
    }

    assert set(manifests) == {
        ("Deployment", "ticketing-api"),
        ("Deployment", "ticketing-worker"),
        ("Service", "ticketing-api"),
        ("HorizontalPodAutoscaler", "ticketing-api"),
        ("PodDisruptionBudget", "ticketing-api"),
    }
    pod = manifests[("Deployment", "ticketing-api")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "mss/ticketing:dev"
    assert container["ports"] == [{"name": "http", "containerPort": 8199}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # Its own role's password (`<schema>_app`), and no signing keys: it is not the issuer.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["db-password"]["secret"]["items"] == [
        {"key": "tickets_app", "path": "tickets_app"}
    ]
    assert "signing-keys" not in volumes
    assert "ticketing.yaml" in yaml.safe_load(files["k8s/base/kustomization.yaml"])["resources"]
    policies = {d["metadata"]["name"] for d in _docs(files["k8s/base/network-policies.yaml"])}
    assert {"ticketing-api-ingress", "ticketing-worker-ingress"} <= policies
    gateway = next(
        d
        for d in _docs(files["k8s/base/config.yaml"])
        if d["metadata"]["name"] == "mss-gateway-config"
    )
    assert gateway["data"]["MSS_TICKETING_UPSTREAM"] == "ticketing-api:8199"
    images = {d["imageTag"]["name"] for d in _docs(files["k8s/overlays/prod/images.yaml"])}
    assert "mss/ticketing" in images


def test_an_extra_process_gets_its_deployment_probed_by_the_registry_probe() -> None:
    files = deploy.render(parse(REGISTRY_FILE.read_text()))
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _docs(files["k8s/base/identity.yaml"])}

    container = docs[("Deployment", "identity-introspect")]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["args"] == ["introspect"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert ("Service", "identity-introspect") in docs


def test_every_generated_file_carries_the_mark_and_rendering_is_deterministic(
    files: dict[str, str],
) -> None:
    again = deploy.render(parse(REGISTRY_FILE.read_text() + NEW_SERVICE))

    assert again == files
    for name, text in files.items():
        assert deploy.GENERATED_MARK in text[:500], name


def test_check_reports_a_hand_edit_and_a_stale_service_file(tmp_path: Path) -> None:
    files = deploy.render(parse(REGISTRY_FILE.read_text()))
    deploy.write(tmp_path, files)
    assert deploy.check(tmp_path, files) == []

    compose = tmp_path / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("mem_limit: 192m", "mem_limit: 1g", 1))
    (tmp_path / "k8s" / "base" / "gone.yaml").write_text("# " + deploy.GENERATED_MARK + "\n")

    diffs = deploy.check(tmp_path, files)
    assert len(diffs) == 2
    assert "-    mem_limit: 1g" in diffs[0]
    assert "+    mem_limit: 192m" in diffs[0]
    assert "k8s/base/gone.yaml" in diffs[1]
    deploy.write(tmp_path, files)
    assert deploy.check(tmp_path, files) == []
    assert not (tmp_path / "k8s" / "base" / "gone.yaml").exists()
