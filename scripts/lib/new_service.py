"""`scripts/new-service NAME`: a working service skeleton, registered everywhere.

1. services/NAME from scripts/lib/service_template/ (string.Template, `.tmpl` files, the
   `PACKAGE` folder becoming mss_NAME and `NAME` in file names becoming NAME), formatted
   with ruff: api/ application/ domain/ adapters/ consumers/, config, app and worker entry
   points, a first migration with its tenant table under RLS, tests/rls.py, the
   route-permission test, a unit and an integration test;
2. services/registry.toml: a `[[service]]` entry (a `[[reserved]]` entry of that name gives
   its ports and prefixes and is removed; otherwise the next free ports);
3. `uv sync --all-packages` (the workspace takes services/* as members), unless --no-sync;
4. the files generated from the registry: scripts/generate-deploy, scripts/openapi.

The example routes check permissions the matrix already has (mss_contracts.permissions):
`<first prefix>:read` and `:create` by default, so contracts stay untouched; a prefix with
no such permissions needs --read-permission/--create-permission naming existing ones.
"""

from __future__ import annotations

import argparse
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs" / "src"), str(ROOT / "contracts" / "src")]

from mss_contracts.permissions import CONCRETE_PERMISSIONS  # noqa: E402
from mss_settings.registry import (  # noqa: E402
    RegistryError,
    ServiceSpec,
    parse_all,
)

TEMPLATE = Path(__file__).resolve().parent / "service_template"
REGISTRY = ROOT / "services" / "registry.toml"
RESERVED_COMMENT = "# Reserved for the services to come (see the header).\n"
# Where new services' ports start when no reservation gives them.
FIRST_API_PORT = 8101
FIRST_WORKER_PORT = 9101


class Refused(Exception):
    """The service cannot be created as asked (the message says why)."""


def camel(name: str) -> str:
    return name[:1].upper() + name[1:]


def next_free(taken: set[int], start: int) -> int:
    port = start
    while port in taken:
        port += 1
    return port


def plan(args: argparse.Namespace, text: str) -> ServiceSpec:
    """The registry entry of the new service, checked against the registry as it is."""
    try:
        services, reserved = parse_all(text)
    except RegistryError as error:
        raise Refused(f"services/registry.toml: {error}") from error
    name: str = args.name
    if name in {s.name for s in services} or (ROOT / "services" / name).exists():
        raise Refused(f"service {name!r} exists already")
    reservation = next((r for r in reserved if r.name == name), None)
    others = [*services, *(r for r in reserved if r.name != name)]
    taken = {p.port for spec in others for p in spec.processes()}
    api_port = args.api_port or (
        reservation.api_port if reservation else next_free(taken, FIRST_API_PORT)
    )
    worker_port = args.worker_metrics_port or (
        reservation.worker_metrics_port
        if reservation
        else next_free(taken | {api_port}, FIRST_WORKER_PORT)
    )
    prefixes = tuple(args.prefix or (reservation.gateway_prefixes if reservation else (name,)))
    spec = ServiceSpec(
        name=name,
        schema=name,
        api_port=api_port,
        worker_metrics_port=worker_port,
        publishes=True,
        consumes=True,
        gateway_prefixes=prefixes,
    )
    # The registry's own checks (name, ports, prefixes, clashes) on the registry to be.
    try:
        parse_all(registry_with(text, spec))
    except RegistryError as error:
        raise Refused(str(error)) from error
    return spec


def permissions(args: argparse.Namespace, spec: ServiceSpec) -> tuple[str, str]:
    resource = spec.gateway_prefixes[0].replace("-", "_")
    read = args.read_permission or f"{resource}:read"
    create = args.create_permission or f"{resource}:create"
    unknown = sorted({read, create} - CONCRETE_PERMISSIONS)
    if unknown:
        raise Refused(
            f"the permission matrix (mss_contracts.permissions) has no {', '.join(unknown)}: "
            "pass --read-permission/--create-permission naming permissions it has, or add "
            "them to the matrix first"
        )
    return read, create


def entry(spec: ServiceSpec) -> str:
    prefixes = ", ".join(f'"{p}"' for p in spec.gateway_prefixes)
    return (
        f'[[service]]\nname = "{spec.name}"\nschema = "{spec.schema}"\n'
        f"api_port = {spec.api_port}\nworker_metrics_port = {spec.worker_metrics_port}\n"
        f"publishes = {str(spec.publishes).lower()}\nconsumes = {str(spec.consumes).lower()}\n"
        f"gateway_prefixes = [{prefixes}]\n"
    )


def registry_with(text: str, spec: ServiceSpec) -> str:
    """The registry with `spec` after the last service and its reservation removed."""
    reservation = re.compile(
        r'\[\[reserved\]\]\nname = "' + re.escape(spec.name) + r'"\n(?:[^\n\[][^\n]*\n)*\n?'
    )
    text = reservation.sub("", text)
    if "\n[[reserved]]" not in text:
        text = text.replace(RESERVED_COMMENT, "")
    text = text.rstrip("\n") + "\n"
    cut = min(
        (i for i in (text.find("\n" + RESERVED_COMMENT), text.find("\n[[reserved]]")) if i >= 0),
        default=len(text),
    )
    head, tail = text[:cut].rstrip("\n"), text[cut:].lstrip("\n")
    return head + "\n\n" + entry(spec) + ("\n" + tail if tail else "")


def render(spec: ServiceSpec, read: str, create: str) -> list[Path]:
    target = ROOT / "services" / spec.name
    values = {
        "name": spec.name,
        "Name": camel(spec.name),
        "package": spec.package,
        "schema": spec.schema,
        "prefix": spec.gateway_prefixes[0],
        "read_permission": read,
        "create_permission": create,
    }
    written = []
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        parts = [
            spec.package if part == "PACKAGE" else part.replace("NAME", spec.name)
            for part in relative.parts
        ]
        path = target.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(source.read_text()).substitute(values))
        written.append(path)
    return written


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/new-service", description=__doc__.split("\n")[0])
    parser.add_argument("name", help="lower-case letters: services/NAME, package mss_NAME")
    parser.add_argument("--prefix", action="append", help="a gateway prefix /api/P (repeatable)")
    parser.add_argument("--api-port", type=int)
    parser.add_argument("--worker-metrics-port", type=int)
    parser.add_argument("--read-permission", help="what the example's list route checks")
    parser.add_argument("--create-permission", help="what the example's create route checks")
    parser.add_argument(
        "--no-sync", action="store_true", help="skip `uv sync` (the package must be importable)"
    )
    args = parser.parse_args(argv)
    text = REGISTRY.read_text()
    try:
        spec = plan(args, text)
        read, create = permissions(args, spec)
    except Refused as refusal:
        print(f"scripts/new-service: {refusal}", file=sys.stderr)
        return 2
    written = render(spec, read, create)
    REGISTRY.write_text(registry_with(text, spec))
    ruff = str(ROOT / ".venv" / "bin" / "ruff")
    directory = f"services/{spec.name}"
    # Formatted first (long lines split), then imports sorted, then formatted again.
    run(ruff, "format", "--quiet", directory)
    run(ruff, "check", "--fix", "--quiet", directory)
    run(ruff, "format", "--quiet", directory)
    if not args.no_sync:
        uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
        run(uv, "sync", "--all-packages", "--quiet")
    run("scripts/generate-deploy")
    run("scripts/openapi")
    print(
        f"services/{spec.name}: {len(written)} files; registered with API port "
        f"{spec.api_port}, worker metrics port {spec.worker_metrics_port}, gateway prefixes "
        f"{', '.join(spec.gateway_prefixes)}; example routes check {read} and {create}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
