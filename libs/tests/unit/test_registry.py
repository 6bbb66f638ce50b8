"""The service registry is the one list of services: it matches the folders, it refuses
impossible entries, and no other file keeps a list of its own."""

from __future__ import annotations

import ast
import re
import subprocess

import pytest

from mss_settings import registry
from mss_settings.registry import ROOT, RegistryError, parse

# Files that are the registry, are generated from it, or describe the services in prose.
GENERATED_MARK = "generated from services/registry.toml"
PROSE = re.compile(r"(^|/)(README\.md|docs/.*|.*\.md)$")


def test_every_service_folder_is_registered_and_every_registered_service_has_a_folder() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}

    assert folders == set(registry.names())
    for spec in registry.services():
        assert (spec.source_dir / spec.package / "__init__.py").is_file(), spec.name
        assert (spec.directory / "migrations").is_dir(), spec.name


def test_processes_are_the_api_then_extras_then_the_worker_shifted_by_the_offset() -> None:
    identity = registry.service("identity")

    commands = [p.command for p in identity.processes()]
    shifted = identity.processes(10000)

    assert commands[0] == "api"
    assert commands[-1] == "worker"
    assert [p.port - 10000 for p in shifted] == [p.port for p in identity.processes()]
    assert identity.process("worker").probe is None


def test_api_replicas_follow_the_api_each_on_its_port_and_only_on_one_host() -> None:
    [spec] = parse(BASE + "api_replica_ports = [8211, 8221]\n")

    assert [(p.command, p.port, p.probe) for p in spec.processes(100)] == [
        ("api", 8301, "/ready"),
        ("api2", 8311, "/ready"),
        ("api3", 8321, "/ready"),
        ("worker", 9301, None),
    ]
    assert [p.command for p in spec.api_processes()] == ["api", "api2", "api3"]
    # What a deployment runs: the one API, scaled by its replica count instead.
    assert [p.command for p in spec.processes(replicas=False)] == ["api", "worker"]
    assert spec.process("api2").serves_api
    assert not spec.process("worker").serves_api


BASE = """
[[service]]
name = "alpha"
schema = "alpha"
api_port = 8201
worker_metrics_port = 9201
gateway_prefixes = ["things"]
"""


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (BASE.replace("alpha", "beta").replace("201", "202"), "prefix things"),
        (BASE.replace("alpha", "beta").replace("things", "others"), "port 8201"),
        (BASE.replace('"alpha"', '"Beta"'), "lower-case"),
        (BASE.replace("alpha", "beta").replace("201", "202").replace("things", "A b"), "prefix"),
        (BASE.replace("alpha", "beta").replace("8201", "70000").replace("things", "x"), "outside"),
        ("api_replica_ports = [8201]\n", "port 8201"),
        ('api_replica_ports = ["8211"]\n', "api_replica_ports"),
    ],
)
def test_the_registry_refuses_clashes_and_malformed_entries(extra: str, problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        parse(BASE + extra)


def test_consumes_names_the_queues_of_a_service_events_first() -> None:
    [default] = parse(BASE)
    [two] = parse(BASE + 'consumes = ["events", "mail"]\n')
    [none] = parse(BASE + "consumes = false\n")

    assert (default.queues, default.consumes) == (("events",), True)
    assert (two.queues, two.consumes) == (("events", "mail"), True)
    assert (none.queues, none.consumes) == ((), False)
    for wrong in ('["mail"]', '["events", "events"]', '["events", "Mail"]', "[]", '"mail"'):
        with pytest.raises(RegistryError, match=r"consumes|queue names"):
            parse(BASE + f"consumes = {wrong}\n")


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def _python_lists(source: str, names: frozenset[str]) -> list[tuple[int, str]]:
    """Collection literals (list, tuple, set, dict keys) holding three or more services."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key in node.keys if key is not None]
        else:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
        if len(named) >= 3:
            found.append((node.lineno, ", ".join(sorted(named))))
    return found


def _text_lists(text: str, names: frozenset[str]) -> list[tuple[int, str]]:
    """Lines (comments aside) naming three or more services, quoted or as words."""
    word = re.compile(r"\b(" + "|".join(sorted(names)) + r")\b")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(("#", "//", "*")):
            continue
        named = set(word.findall(line))
        if len(named) >= 3:
            found.append((number, ", ".join(sorted(named))))
    return found


def test_no_file_but_the_registry_lists_the_services() -> None:
    """Code names services one at a time; only the registry (and files generated from it,
    and prose) lists them."""
    names = frozenset(registry.names())
    offenders = []
    for name in _tracked_files():
        if name in ("services/registry.toml", "uv.lock") or PROSE.search(name):
            continue
        try:
            text = (ROOT / name).read_text()
        except UnicodeDecodeError:
            continue
        if GENERATED_MARK in text[:500]:
            continue
        lists = _python_lists(text, names) if name.endswith(".py") else _text_lists(text, names)
        offenders += [f"{name}:{line}: {named}" for line, named in lists]
    assert not offenders, "lists of services outside the registry:\n" + "\n".join(offenders)


RESERVED = """
[[reserved]]
name = "gamma"
api_port = 8203
worker_metrics_port = 9203
gateway_prefixes = ["widgets"]
"""


def test_a_reservation_holds_its_ports_and_prefixes_against_every_other_service() -> None:
    services, reserved = registry.parse_all(BASE + RESERVED)
    assert [s.name for s in services] == ["alpha"]
    assert [(r.name, r.schema, r.api_port, r.gateway_prefixes) for r in reserved] == [
        ("gamma", "gamma", 8203, ("widgets",))
    ]
    with pytest.raises(RegistryError, match="port 8203"):
        parse(
            BASE
            + RESERVED
            + BASE.replace("alpha", "beta").replace("201", "203").replace("things", "x")
        )
    with pytest.raises(RegistryError, match="prefix widgets"):
        parse(
            BASE
            + RESERVED
            + BASE.replace("alpha", "beta").replace("201", "202").replace("things", "widgets")
        )
    with pytest.raises(RegistryError, match="both registered and reserved"):
        parse(BASE + RESERVED.replace("gamma", "alpha").replace("widgets", "gizmos"))


def test_the_security_and_intervention_services_are_registered_or_reserved() -> None:
    """`scripts/new-service security|intervention` needs no option: their reservations
    (until the services exist, then their entries) give these ports and prefixes."""
    known = {spec.name: spec for spec in (*registry.services(), *registry.reserved())}
    security, intervention = known["security"], known["intervention"]
    assert (security.api_port, security.worker_metrics_port) == (8103, 9103)
    assert security.gateway_prefixes == ("alerts", "threat-intel", "reports", "dashboard")
    assert (intervention.api_port, intervention.worker_metrics_port) == (8104, 9104)
    assert intervention.gateway_prefixes == ("interventions",)
