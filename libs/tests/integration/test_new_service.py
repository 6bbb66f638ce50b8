"""`scripts/new-service NAME` makes a service that passes lint and its tests, untouched.

The generator runs in a copy of the checkout (its tracked and new files, in a git index of
its own so the registry test can list them), sharing this checkout's Python environment:
PYTHONPATH puts the copy's sources first, so the copy's registry is the one read. Then
`scripts/lint` runs there, and the new service's unit and integration tests with the
shared tests that cover every registered service (table models, RLS, registry, domain
errors, health), against a database of the copy's own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from mss_settings.registry import ROOT

pytestmark = pytest.mark.integration

NAME = "scaffoldprobe"
# Generator, lint (mypy incremental from this checkout's cache) and tests, on a loaded host.
TIMEOUT_S = 600


def _copy_checkout(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", target / ".mypy_cache")


def _git(copy: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=copy, check=True, capture_output=True)


def _run(copy: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


async def _drop_database(url: str) -> None:
    conn = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.mark.timeout(TIMEOUT_S * 3)
def test_a_generated_service_is_registered_everywhere_and_passes_lint_and_its_tests(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "checkout"
    _copy_checkout(copy)
    _git(copy, "init", "-q")
    database = f"postgresql://postgres@127.0.0.1:5432/mss_newservice_{uuid.uuid4().hex[:8]}"
    sources = [copy / "contracts" / "src", copy / "libs" / "src"]
    sources += sorted(p / "src" for p in (copy / "services").iterdir() if p.is_dir())
    sources.append(copy / "services" / NAME / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, sources)),
        "MSS_TEST_DATABASE_URL": database,
    }

    generated = _run(
        copy,
        env,
        "scripts/new-service",
        NAME,
        # No matrix permission is named after the throwaway prefix: existing ones, as asked.
        "--read-permission",
        "audit:read",
        "--create-permission",
        "interventions:create",
        "--no-sync",
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    _git(copy, "add", "-A")

    # Registered everywhere: the registry and what scripts/up and provisioning read from it,
    # compose, k8s, the gateway.
    assert f'name = "{NAME}"' in (copy / "services" / "registry.toml").read_text()
    processes = _run(copy, env, "python3", "libs/src/mss_settings/registry.py", "processes")
    assert f"{NAME}-api mss_{NAME} api" in processes.stdout
    assert f"{NAME}-worker mss_{NAME} worker" in processes.stdout
    assert f"{NAME}-api:" in (copy / "docker-compose.yml").read_text()
    assert f"{NAME}-worker:" in (copy / "docker-compose.yml").read_text()
    assert f"- {NAME}.yaml" in (copy / "k8s" / "base" / "kustomization.yaml").read_text()
    assert (copy / "docs" / "openapi" / f"{NAME}.json").is_file()
    gateway = tmp_path / "gateway"
    rendered = _run(
        copy, env, str(copy / ".venv/bin/python"), "nginx/render.py", "--out", str(gateway)
    )
    assert rendered.returncode == 0, rendered.stderr
    assert f"proxy_pass http://{NAME};" in "".join(p.read_text() for p in gateway.rglob("*.conf"))

    lint = _run(copy, env, "scripts/lint")
    assert lint.returncode == 0, lint.stdout[-6000:] + lint.stderr[-2000:]

    try:
        tests = _run(
            copy,
            env,
            str(copy / ".venv/bin/pytest"),
            "-q",
            f"services/{NAME}/tests/unit",
            f"services/{NAME}/tests/integration",
            "libs/tests/integration/test_table_models.py",
            "libs/tests/integration/test_rls.py",
            "libs/tests/unit/test_registry.py",
            "libs/tests/unit/test_domain_errors.py",
            "libs/tests/unit/test_health_endpoints.py",
        )
    finally:
        asyncio.run(_drop_database(database))
    assert tests.returncode == 0, tests.stdout[-6000:] + tests.stderr[-2000:]
