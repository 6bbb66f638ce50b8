"""The platform's OpenAPI documents, generated from the apps the registry names.

`python scripts/lib/openapi.py [--out DIR] [--check]` (through `scripts/openapi`):
- `DIR/<service>.json` for every service of services/registry.toml: `app.openapi()` of
  `mss_<service>.main:create_app()`, which builds the routes without running the lifespan,
  so no database, broker or Redis is needed;
- `DIR/mss-platform.json`: every service's paths in one document, as the gateway serves
  them, with the component schemas merged (clashes renamed, see `merge`).

Output is deterministic: keys sorted at every level (`openapi` and `info` first, so the
generated mark lands in the first 500 characters, where the registry test looks for it),
two-space indent, one trailing newline. `--check` regenerates into a temporary directory
and fails on any difference with DIR (default docs/openapi), a missing or a stale file.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import importlib
import json
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from mss_settings import registry

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "docs" / "openapi"
MERGED = "mss-platform"
# libs/tests/unit/test_registry.py skips files whose first 500 characters carry this mark.
GENERATED_MARK = "generated from services/registry.toml"

Document = dict[str, Any]


class MergeError(ValueError):
    """Two services claim the same path, operation or component name: no merged document
    can hold both."""


def service_document(name: str) -> Document:
    """The OpenAPI document of one registered service, with the generated mark."""
    spec = registry.service(name)
    module = importlib.import_module(f"{spec.package}.main")
    app = module.create_app()
    if not isinstance(app, FastAPI):
        raise TypeError(f"{spec.package}.main.create_app() returned {type(app).__name__}")
    document: Document = copy.deepcopy(app.openapi())
    document["info"]["description"] = (
        f"The HTTP API of the {name} service, {GENERATED_MARK} and "
        f"{spec.package}.main:create_app() by scripts/openapi. Do not edit: run scripts/openapi."
    )
    return document


# --- merging -----------------------------------------------------------------------------


def _ref(section: str, name: str) -> str:
    escaped = name.replace("~", "~0").replace("/", "~1")
    return f"#/components/{section}/{escaped}"


def _rewrite_refs(value: Any, renames: Mapping[str, str]) -> Any:
    """A copy of `value` whose `$ref`s follow `renames` (old ref -> new ref)."""
    if isinstance(value, dict):
        return {
            key: renames.get(item, item)
            if key == "$ref" and isinstance(item, str)
            else _rewrite_refs(item, renames)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(item, renames) for item in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _qualified(service: str, name: str) -> str:
    return f"{service}_{name}"


def _clashes(documents: Mapping[str, Document]) -> set[tuple[str, str]]:
    """(section, name) of the components that services define differently.

    A component whose text is the same in two services but which refers to a clashing
    component means different things in each, so it clashes too: the set grows until no
    comparison changes, with each service's references to clashing names qualified by it.
    """
    holders: dict[tuple[str, str], list[str]] = {}
    for service, document in documents.items():
        for section, components in document.get("components", {}).items():
            for name in components:
                holders.setdefault((section, name), []).append(service)
    shared = {key: services for key, services in holders.items() if len(services) > 1}
    clashing: set[tuple[str, str]] = set()
    while True:
        grown = set(clashing)
        for (section, name), services in shared.items():
            if (section, name) in grown:
                continue
            texts = set()
            for service in services:
                renames = {_ref(s, n): _ref(s, _qualified(service, n)) for s, n in clashing}
                definition = documents[service]["components"][section][name]
                texts.add(_canonical(_rewrite_refs(definition, renames)))
            if len(texts) > 1:
                grown.add((section, name))
        if grown == clashing:
            return clashing
        clashing = grown


def merge(documents: Mapping[str, Document], *, version: str) -> tuple[Document, list[str]]:
    """One document of every service's paths, and what was renamed to get there.

    Components defined identically by several services are kept once under their name.
    Components that services define differently are renamed `<service>_<Name>` in every
    service that defines them, and that service's references follow; each rename is
    reported. A path or an operationId claimed by two services is a `MergeError` (as is a
    renamed component meeting one that already has that name).
    """
    clashing = _clashes(documents)
    report = []
    for section, name in sorted(clashing):
        holders = [
            s for s in documents if name in documents[s].get("components", {}).get(section, {})
        ]
        renamed = ", ".join(_qualified(s, name) for s in holders)
        report.append(
            f"components/{section}/{name} differs between {', '.join(holders)} (itself or in "
            f"what it refers to): renamed {renamed}"
        )
    paths: dict[str, Any] = {}
    path_owner: dict[str, str] = {}
    operation_owner: dict[str, str] = {}
    components: dict[str, dict[str, Any]] = {}
    versions = {document["openapi"] for document in documents.values()}
    if len(versions) > 1:
        raise MergeError(f"services disagree on the OpenAPI version: {sorted(versions)}")
    for service, document in documents.items():
        renames = {
            _ref(section, name): _ref(section, _qualified(service, name))
            for section, name in clashing
        }
        for path, item in document.get("paths", {}).items():
            if path in path_owner:
                raise MergeError(f"{path}: served by {path_owner[path]} and {service}")
            path_owner[path] = service
            for operation in item.values():
                operation_id = operation.get("operationId") if isinstance(operation, dict) else None
                if operation_id is None:
                    continue
                if operation_id in operation_owner:
                    raise MergeError(
                        f"operationId {operation_id}: in {operation_owner[operation_id]} "
                        f"and {service}"
                    )
                operation_owner[operation_id] = service
            paths[path] = {**_rewrite_refs(item, renames), "x-mss-service": service}
        for section, defined in document.get("components", {}).items():
            merged = components.setdefault(section, {})
            for name, definition in defined.items():
                key = _qualified(service, name) if (section, name) in clashing else name
                rewritten = _rewrite_refs(definition, renames)
                if key in merged and _canonical(merged[key]) != _canonical(rewritten):
                    # Only a qualified name meeting a component already called that.
                    raise MergeError(f"components/{section}/{key}: two different definitions")
                merged[key] = rewritten
    merged_document: Document = {
        "openapi": versions.pop() if versions else "3.1.0",
        "info": {
            "title": "MSS Platform",
            "version": version,
            "description": (
                f"Every service's paths as the gateway serves them, {GENERATED_MARK} and "
                "each service's create_app() by scripts/openapi (docs/api.md is the "
                "contract these agree with). Do not edit: run scripts/openapi."
            ),
        },
        "paths": paths,
    }
    if components:
        merged_document["components"] = components
    return merged_document, report


# --- output ------------------------------------------------------------------------------


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def render(document: Document) -> str:
    """Canonical text: sorted keys, with `openapi` and `info` leading the top level."""
    leading: list[str] = [key for key in ("openapi", "info") if key in document]
    order = leading + sorted(key for key in document if key not in leading)
    ordered = {key: _sorted(document[key]) for key in order}
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def platform_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def generate() -> tuple[dict[str, str], list[str]]:
    """File name -> text for every document, and the merge report."""
    documents = {name: service_document(name) for name in registry.names()}
    merged, report = merge(documents, version=platform_version())
    files = {f"{name}.json": render(document) for name, document in documents.items()}
    files[f"{MERGED}.json"] = render(merged)
    return files, report


def _generated(path: Path) -> bool:
    return GENERATED_MARK in path.read_text(encoding="utf-8")[:500]


def write(out: Path, files: Mapping[str, str]) -> None:
    """Write `files` into `out`, removing the generated documents of services no longer
    registered (and nothing else)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in sorted({p.name for p in out.glob("*.json")} - set(files)):
        if _generated(out / stale):
            (out / stale).unlink()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


def differences(out: Path, files: Mapping[str, str], *, context_lines: int = 40) -> list[str]:
    """What `out` lacks, has too many of, or holds differently from `files`."""
    found: list[str] = []
    present = {p.name for p in out.glob("*.json")} if out.is_dir() else set()
    for stale in sorted(present - set(files)):
        if _generated(out / stale):
            found.append(f"{stale}: stale, its service is no longer registered")
        else:
            found.append(f"{stale}: not a generated document (remove it)")
    for name, text in sorted(files.items()):
        if name not in present:
            found.append(f"{name}: missing")
            continue
        current = (out / name).read_text(encoding="utf-8")
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    f"{name} (committed)",
                    f"{name} (generated)",
                    lineterm="",
                )
            )
            hidden = len(diff) - context_lines
            shown = "\n".join(diff[:context_lines]) + (f"\n… {hidden} more" if hidden > 0 else "")
            found.append(f"{name}: differs\n{shown}")
    return found


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/openapi",
        description="Write docs/openapi/<service>.json and mss-platform.json from the apps.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: docs/openapi")
    parser.add_argument(
        "--check", action="store_true", help="fail when --out differs from a fresh generation"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    files, report = generate()
    for line in report:
        print(f"openapi: {line}", file=sys.stderr)
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            # Written and read back, so the check compares exactly what a run would commit.
            write(Path(scratch), files)
            fresh = {p.name: p.read_text(encoding="utf-8") for p in Path(scratch).glob("*.json")}
        problems = differences(out, fresh)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            print("openapi: documents out of date; run scripts/openapi", file=sys.stderr)
            return 1
        print(f"openapi: {len(files)} documents up to date in {_shown(out)}")
        return 0
    write(out, files)
    print(f"openapi: wrote {len(files)} documents to {_shown(out)}")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
