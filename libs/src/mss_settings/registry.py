"""The service registry: `services/registry.toml`, the one list of the platform's services.

Everything that needs to know which services exist reads it from here: provisioning, the
scripts (through `python -m mss_settings.registry`), the test plugin, the gateway renderer,
the deployment generator and lint. Ports are the registry's plus `MSS_PORT_OFFSET`, so a
second checkout (or a helper's worktree) can run a whole platform beside the first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
REGISTRY_FILE = ROOT / "services" / "registry.toml"

_NAME = re.compile(r"^[a-z]+$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]*$")
_REPLICA = re.compile(r"^api[2-9][0-9]*$")
# The queue every consuming service owns (mss_bus.Topology names it `<service>.events`).
DEFAULT_QUEUE = "events"


class RegistryError(ValueError):
    """The registry file says something impossible (a duplicate port, a bad name)."""


@dataclass(frozen=True, slots=True)
class Process:
    """One long-running command of a service: `python -m mss_<service> <command>`."""

    service: str
    command: str
    port: int  # HTTP port; for a worker, its metrics endpoint
    probe: str | None  # the path that answers once the process is up; None: no probe

    @property
    def name(self) -> str:
        return f"{self.service}-{self.command}"

    @property
    def module(self) -> str:
        return f"mss_{self.service}"

    @property
    def serves_api(self) -> bool:
        """The service's API: `api`, or one of its local replicas (`api2`, `api3`, ...)."""
        return self.command == "api" or _REPLICA.match(self.command) is not None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    schema: str
    api_port: int
    worker_metrics_port: int
    publishes: bool
    consumes: bool
    gateway_prefixes: tuple[str, ...]
    extra_processes: tuple[Process, ...] = ()
    # The names of its queues on the bus (mss_bus.Topology.queue): ("events",) by default.
    queues: tuple[str, ...] = ()
    # More API processes on one host (`scripts/up`), each on its own port; the gateway
    # spreads requests and sockets over all of them. A deployment scales the one API
    # instead (its replica count), so the generated manifests leave these out.
    api_replica_ports: tuple[int, ...] = ()

    @property
    def package(self) -> str:
        return f"mss_{self.name}"

    @property
    def directory(self) -> Path:
        return ROOT / "services" / self.name

    @property
    def source_dir(self) -> Path:
        return self.directory / "src"

    def processes(self, offset: int = 0, *, replicas: bool = True) -> tuple[Process, ...]:
        """API first (and its local replicas, unless `replicas` is False), then the extra
        processes, then the worker (ports shifted by `offset`)."""
        apis = [Process(self.name, "api", self.api_port, "/ready")]
        if replicas:
            apis += [
                Process(self.name, f"api{n}", port, "/ready")
                for n, port in enumerate(self.api_replica_ports, start=2)
            ]
        worker = Process(self.name, "worker", self.worker_metrics_port, None)
        return tuple(
            Process(p.service, p.command, p.port + offset, p.probe)
            for p in (*apis, *self.extra_processes, worker)
        )

    def api_processes(self, offset: int = 0) -> tuple[Process, ...]:
        return tuple(p for p in self.processes(offset) if p.serves_api)

    def process(self, command: str, offset: int = 0) -> Process:
        for process in self.processes(offset):
            if process.command == command:
                return process
        raise KeyError(f"{self.name} runs no {command!r} process")


def _queues(name: str, consumes: object) -> tuple[str, ...]:
    """`consumes = true`: the one queue `events`; a list names every queue, `events` first."""
    if isinstance(consumes, bool):
        return (DEFAULT_QUEUE,) if consumes else ()
    if not isinstance(consumes, list) or not consumes or consumes[0] != DEFAULT_QUEUE:
        raise RegistryError(f"{name}: consumes is true, false or a list starting with 'events'")
    if len(set(consumes)) != len(consumes) or not all(
        isinstance(queue, str) and _NAME.match(queue) for queue in consumes
    ):
        raise RegistryError(f"{name}: queue names are distinct lower-case words")
    return tuple(consumes)


def _spec(entry: dict[str, Any]) -> ServiceSpec:
    name = str(entry["name"])
    if not _NAME.match(name):
        raise RegistryError(f"service name {name!r}: lower-case letters only")
    extras = entry.get("extra_processes", [])
    prefixes = entry.get("gateway_prefixes", [])
    if not isinstance(extras, list) or not isinstance(prefixes, list):
        raise RegistryError(f"{name}: extra_processes and gateway_prefixes are lists")
    for prefix in prefixes:
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise RegistryError(f"{name}: gateway prefix {prefix!r} is not [a-z0-9-]")
    queues = _queues(name, entry.get("consumes", True))
    replica_ports = entry.get("api_replica_ports", [])
    if not isinstance(replica_ports, list) or not all(isinstance(p, int) for p in replica_ports):
        raise RegistryError(f"{name}: api_replica_ports is a list of ports")
    return ServiceSpec(
        name=name,
        schema=str(entry.get("schema", name)),
        api_port=int(entry["api_port"]),
        worker_metrics_port=int(entry["worker_metrics_port"]),
        publishes=bool(entry.get("publishes", True)),
        consumes=bool(queues),
        queues=queues,
        gateway_prefixes=tuple(str(prefix) for prefix in prefixes),
        extra_processes=tuple(
            Process(name, str(extra["name"]), int(extra["port"]), extra.get("probe"))
            for extra in extras
        ),
        api_replica_ports=tuple(replica_ports),
    )


def _reservation(entry: dict[str, Any]) -> ServiceSpec:
    """A `[[reserved]]` entry: a service to come, its ports and prefixes held for it."""
    return _spec({"schema": entry.get("name"), **entry})


def _check_clashes(specs: tuple[ServiceSpec, ...]) -> None:
    seen: dict[tuple[str, object], str] = {}
    for spec in specs:
        keys: list[tuple[str, object]] = [("name", spec.name), ("schema", spec.schema)]
        keys += [("port", p.port) for p in spec.processes()]
        if any(not 0 < p.port < 65536 for p in spec.processes()):
            raise RegistryError(f"{spec.name}: a port outside 1-65535")
        keys += [("prefix", prefix) for prefix in spec.gateway_prefixes]
        for key in keys:
            if key in seen:
                raise RegistryError(f"{spec.name}: {key[0]} {key[1]} already used by {seen[key]}")
            seen[key] = spec.name


def parse(text: str) -> tuple[ServiceSpec, ...]:
    """The services of a registry document, checked for clashes (reservations included)."""
    return parse_all(text)[0]


def parse_all(text: str) -> tuple[tuple[ServiceSpec, ...], tuple[ServiceSpec, ...]]:
    """(services, reservations) of a registry document. A reservation holds its name,
    ports and prefixes against every service but the one it is for: `scripts/new-service`
    removes it when it registers that service, so a name is never both."""
    document = tomllib.loads(text)
    specs = tuple(_spec(entry) for entry in document.get("service", []))
    reserved = tuple(_reservation(entry) for entry in document.get("reserved", []))
    for spec in reserved:
        if spec.name in {s.name for s in specs}:
            raise RegistryError(f"{spec.name}: both registered and reserved")
        if spec.extra_processes or spec.api_replica_ports:
            raise RegistryError(
                f"{spec.name}: a reservation holds no extra_processes or api_replica_ports"
            )
    _check_clashes(specs + reserved)
    return specs, reserved


@cache
def services() -> tuple[ServiceSpec, ...]:
    """Every registered service, in provisioning order."""
    return parse(REGISTRY_FILE.read_text())


def reserved() -> tuple[ServiceSpec, ...]:
    """The `[[reserved]]` entries: services to come (their ports and prefixes held)."""
    return parse_all(REGISTRY_FILE.read_text())[1]


def service(name: str) -> ServiceSpec:
    for spec in services():
        if spec.name == name:
            return spec
    raise KeyError(f"no service {name!r} in {REGISTRY_FILE}")


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in services())


def port_offset() -> int:
    """`MSS_PORT_OFFSET`: added to every port of the registry (0 unless set)."""
    return int(os.environ.get("MSS_PORT_OFFSET", "0") or 0)


def processes(offset: int | None = None) -> tuple[Process, ...]:
    shift = port_offset() if offset is None else offset
    return tuple(process for spec in services() for process in spec.processes(shift))


# --- generated configuration -------------------------------------------------------------


def import_linter_config() -> str:
    """import-linter's contracts, written from the registry for each lint run."""
    libs = [
        "mss_settings",
        "mss_db",
        "mss_bus",
        "mss_auth",
        "mss_web",
        "mss_service",
        "mss_grants",
        "mss_projections",
    ]
    packages = [spec.package for spec in services()]
    ours = ["mss_contracts", *libs, *packages]

    def listed(values: list[str]) -> str:
        return "\n    " + "\n    ".join(values)

    frameworks = ["fastapi", "starlette", "sqlalchemy", "sqlmodel", "aio_pika", "redis", "asyncpg"]
    return f"""[importlinter]
root_packages ={listed(ours)}
include_external_packages = True

[importlinter:contract:independent]
name = Services are independent of each other
type = independence
modules ={listed(packages)}

[importlinter:contract:contracts]
name = Contracts import nothing of ours
type = forbidden
source_modules = mss_contracts
forbidden_modules ={listed(libs + packages)}

[importlinter:contract:libs]
name = Libs never import a service
type = forbidden
source_modules ={listed(libs)}
forbidden_modules ={listed(packages)}

[importlinter:contract:layers]
name = Inside a service: api | consumers -> application -> adapters -> domain
type = layers
layers =
    api | consumers
    application
    adapters
    domain
containers ={listed(packages)}

[importlinter:contract:domains]
name = Domains import no framework
type = forbidden
source_modules ={listed([f"{p}.domain" for p in packages])}
forbidden_modules ={listed(frameworks)}
"""


def _main(argv: list[str]) -> int:
    """`python -m mss_settings.registry names|processes|source-dirs|import-linter|json`."""
    command = argv[0] if argv else "names"
    if command == "names":
        print("\n".join(names()))
    elif command == "processes":
        # name module command port probe ('-' when none): scripts/up, down and test read this
        for p in processes():
            print(p.name, p.module, p.command, p.port, p.probe or "-")
    elif command == "source-dirs":
        print(os.pathsep.join(str(spec.source_dir) for spec in services()))
    elif command == "import-linter":
        print(import_linter_config(), end="")
    elif command == "json":
        offset = port_offset()
        print(
            json.dumps(
                [
                    {
                        "name": spec.name,
                        "schema": spec.schema,
                        "publishes": spec.publishes,
                        "consumes": spec.consumes,
                        "queues": list(spec.queues),
                        "gatewayPrefixes": list(spec.gateway_prefixes),
                        "processes": [
                            {"command": p.command, "port": p.port, "probe": p.probe}
                            for p in spec.processes(offset)
                        ],
                    }
                    for spec in services()
                ],
                indent=2,
            )
        )
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
